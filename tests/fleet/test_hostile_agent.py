"""A compromised agent: whatever it answers, the hub reads at most 1 MiB, strict data, plain text.

The hostile agent is an aiohttp app over real TLS with a certificate the hub's CA signed (it was
enrolled; then it was taken over), so every answer reaches the hub's parser.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from hostwarden.core.alerts import with_host
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.errors import NotFound, Unavailable
from hostwarden.fleet.poller import FeedPoller
from hostwarden.fleet.remote import RemoteHost
from hostwarden.sandbox.markup import parse_html
from hostwarden.storage.memory import MemoryStore
from tests.doubles import serve_app
from tests.fleet.agent_kit import (
    Hostile,
    Pki,
    hostname,
    no_wait,
    server_context,
    serving_tls,
)

MIB = 1024 * 1024
WHEN = "2026-01-01T00:00:00Z"
MARKUP = '<b>x</b> <a href="tg://user?id=1">y</a> &amp; <tg-spoiler>z</tg-spoiler> <pre>'


def container(name: str = "web", **fields: object) -> dict[str, object]:
    return {
        "name": name, "short_id": "abc", "image": "nginx", "state": "running",
        "started_at": None, **fields,
    }  # fmt: skip


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.make(tmp_path)


@pytest.fixture
async def evil(pki: Pki) -> AsyncIterator[tuple[Hostile, RemoteHost]]:
    hostile = Hostile()
    async with serving_tls(hostile.app(), server_context(pki.enrol("evil"))) as url:
        host = RemoteHost("evil", url, pki.hub_context(), hostname("evil"), sleep=no_wait)
        try:
            yield hostile, host
        finally:
            await host.close()


async def test_a_body_over_the_cap_is_refused_before_parsing(
    evil: tuple[Hostile, RemoteHost],
) -> None:
    hostile, host = evil
    names = [container(f"c{i}") for i in range(30_000)]
    hostile.json("/v1/containers", {"containers": names})  # about 2.7 MiB, with its length
    with pytest.raises(Unavailable, match="over 1024 KiB"):
        await host.engine.containers()


async def test_a_million_containers_streamed_are_cut_off_at_the_cap(
    evil: tuple[Hostile, RemoteHost],
) -> None:
    hostile, host = evil
    chunk = ",".join(json.dumps(container(f"c{i}")) for i in range(1000)).encode()

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"containers": [')
        for _ in range(1000):  # 10^6 containers, about 90 MiB, if anyone read them all
            try:
                await response.write(chunk + b",")
            except ConnectionError:
                break
            hostile.sent += len(chunk)
        return response

    hostile.routes["/v1/containers"] = stream
    with pytest.raises(Unavailable, match="over 1024 KiB"):
        await host.engine.containers()
    assert hostile.sent < 90 * MIB


async def test_a_slow_drip_ends_at_the_deadline(pki: Pki) -> None:
    hostile = Hostile()

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        while True:  # the hostile agent's pace: a byte every 50 ms, forever
            await response.write(b" ")
            await asyncio.sleep(0.05)

    hostile.routes["/v1/version"] = drip
    async with serving_tls(hostile.app(), server_context(pki.enrol("evil"))) as url:
        host = RemoteHost(
            "evil", url, pki.hub_context(), hostname("evil"), timeout=0.5, sleep=no_wait
        )
        started = time.monotonic()
        try:
            with pytest.raises(Unavailable, match="no answer in time"):
                await host.version()
        finally:
            await host.close()
    assert time.monotonic() - started < 5  # three tries of 0.5 s, not forever


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/containers", {"containers": [container(name=5)]}),
        ("/v1/containers", {"containers": [container(name="<b>web</b>")]}),
        ("/v1/containers", {"containers": [container(name="web;rm -rf")]}),
        ("/v1/containers", {"containers": [container(f"c{i}") for i in range(5001)]}),
        ("/v1/containers", {"containers": "all of them"}),
        ("/v1/containers", '{"containers": [' + "[" * 5000 + "]" * 5000 + "]}"),
        ("/v1/version", {"version": "1", "read_only": "no"}),
        ("/v1/version", "not json at all <html>"),
        ("/v1/events", {"boot": "b", "latest": -1, "events": []}),
        ("/v1/events", {"boot": "<b>", "latest": 1, "events": []}),
        ("/v1/events", {"boot": "b", "latest": 1, "events": [
            {"seq": 1, "kind": "<i>x</i>", "title": "t", "at": WHEN}]}),
    ],
)  # fmt: skip
async def test_wrong_types_and_shapes_are_an_invalid_answer(
    evil: tuple[Hostile, RemoteHost], path: str, body: object
) -> None:
    hostile, host = evil
    hostile.json(path, body)
    calls = {
        "/v1/containers": host.engine.containers,
        "/v1/version": host.version,
        "/v1/events": lambda: host.events(0, None),
    }
    with pytest.raises(Unavailable, match="invalid answer"):
        await calls[path]()


def report(**cpu: object) -> dict[str, object]:
    cpu_reading = {
        "percent": 5.0, "per_core": [5.0], "cores_logical": 1, "cores_physical": 1,
        "load": [0.1, 0.1, 0.1], "frequency_mhz": None, **cpu,
    }  # fmt: skip
    memory = {
        "total": 10, "used": 5, "available": 5, "percent": 50.0,
        "swap_total": 0, "swap_used": 0, "swap_percent": 0.0,
    }  # fmt: skip
    status = {
        "hostname": "h", "cpu": cpu_reading, "memory": memory, "disks": [],
        "uptime_seconds": 1.0, "sensors": [],
    }  # fmt: skip
    return {"status": status, "network": [], "by_cpu": [], "by_memory": []}


@pytest.mark.parametrize(
    "bad",
    [
        '{"percent": NaN}',
        '{"percent": Infinity}',
        '{"percent": -5}',
        '{"percent": 1e308}',
        '{"cores_logical": -1}',
        '{"cores_logical": 1.5}',
        '{"percent": "5"}',
        '{"load": [1, 2]}',
    ],
)
async def test_negative_infinite_and_not_a_number_figures_are_refused(
    evil: tuple[Hostile, RemoteHost], bad: str
) -> None:
    hostile, host = evil
    hostile.json("/v1/report", json.dumps(report()))
    assert (await host.report()).status.cpu.percent == 5.0  # the figures as they should be
    cpu = json.dumps(report()["status"]["cpu"])  # type: ignore[index]
    # Raw JSON, so that NaN stays NaN; a later key overrides the good one.
    hostile.json("/v1/report", json.dumps(report()).replace(cpu, cpu[:-1] + ", " + bad[1:]))
    with pytest.raises(Unavailable, match="invalid answer"):
        await host.report()


async def test_texts_lose_control_characters_and_stay_plain(
    evil: tuple[Hostile, RemoteHost],
) -> None:
    hostile, host = evil
    command = "sh -c 'x'\n\u202eHost: hub\u200b\x1b[31m " + MARKUP + " " + "y" * 5000
    details = {
        "summary": container(image="img\nHost: hub"), "created_at": None, "restart_count": 0,
        "exit_code": None, "health": None, "command": command, "ports": [], "mounts": [],
        "networks": ["net\u2028work"], "environment": [["A", "b\x00c"]],
    }  # fmt: skip
    hostile.json("/v1/containers/web", details)
    found = await host.engine.details("web")
    for text in (found.command, found.summary.image, found.networks[0], found.environment[0][1]):
        assert not any(ch in text for ch in "\n\r\x1b\x00\u202e\u200b\u2028")
    assert found.summary.image == "img Host: hub"
    assert MARKUP in found.command  # kept as data: views escape it
    assert len(found.command) == 2000


async def test_never_follows_a_redirect_nor_reads_compressed_bodies(
    evil: tuple[Hostile, RemoteHost],
) -> None:
    hostile, host = evil
    visits: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        visits.append(request.path)
        return web.json_response({"version": "9", "read_only": False})

    target = web.Application()
    target.router.add_get("/{tail:.*}", elsewhere)
    async with serve_app(target) as port:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"http://127.0.0.1:{port}/v1/version")

        hostile.routes["/v1/version"] = redirect
        with pytest.raises(Unavailable, match="answered 302"):
            await host.version()
    assert visits == []

    async def zipped(request: web.Request) -> web.Response:
        body = gzip.compress(json.dumps({"containers": []}).encode())
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    hostile.routes["/v1/containers"] = zipped
    with pytest.raises(Unavailable, match="compressed"):
        await host.engine.containers()


async def test_an_error_message_is_one_plain_line(evil: tuple[Hostile, RemoteHost]) -> None:
    hostile, host = evil
    message = "no such\ncontainer\u202e <b>now</b>" + "!" * 1000
    hostile.json("/v1/containers/web", {"error": "not_found", "message": message}, 404)
    with pytest.raises(NotFound) as caught:
        await host.engine.details("web")
    text = str(caught.value)
    assert "\n" not in text and "\u202e" not in text and len(text) < 400
    assert text.startswith("host evil: no such container")


async def test_alert_text_from_an_agent_reaches_the_chat_as_escaped_text(
    evil: tuple[Hostile, RemoteHost],
) -> None:
    hostile, host = evil
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    core = AccessCore(MemoryStore(), clock=clock)
    poller = FeedPoller(core.alerts, clock)
    hostile.json("/v1/events", {"boot": "run1", "latest": 0, "events": []})
    await poller.poll(host)  # first contact
    title = "Host: hub\n<b>Disk full</b> \u202e@admin /restart web https://evil.example"
    detail = MARKUP + "\n\nHost: hub\nUser: admin"
    events = [{"seq": 1, "kind": "container", "title": title, "detail": detail, "at": WHEN}]
    hostile.json("/v1/events", {"boot": "run1", "latest": 1, "events": events})
    raised = await poller.poll(host)
    assert len(raised) == 1
    [row] = await core.store.outbox.due(clock.now(), 10)
    sent = with_host(row.text, "hub")  # what the bot's notifier sends
    plain = parse_html(sent)  # Telegram would accept it: no markup but our own
    lines = plain.split("\n")
    assert lines[0] == "Host: hub <b>Disk full</b> @admin /restart web https://evil.example"
    assert lines[1] == "Host: evil"
    assert len(lines) == 4  # title, host, time, detail: nothing injected a line
    assert lines[3] == MARKUP + " Host: hub User: admin"
    assert sent.count("<b>") == 1 and html.escape(MARKUP) in sent
