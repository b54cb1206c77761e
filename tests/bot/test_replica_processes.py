"""Two hub replicas as two processes in webhook mode on one PostgreSQL database, behind a
round-robin load balancer, with the sandbox as Telegram: a code prompt answered on the other
replica replays the command there, once; 1,000 alerts raised by both while both drain the
outbox reach the admin chat exactly once each."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest
from aiohttp import web

from hostwarden.bot.actions import bot_policy
from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.secretbox import generate_key
from hostwarden.core.service import AccessCore
from hostwarden.sandbox.client import SandboxClient
from hostwarden.sandbox.server import RunningSandbox, serve
from hostwarden.storage.sql import SqlStore
from tests.bot.conftest import ADMIN_CHAT, ADMIN_ID
from tests.bot.fakes import TOKEN
from tests.bot.replica_worker import ALERTS_EACH, claim_and_hang, worker_settings
from tests.bot.replica_worker import serve as serve_replica
from tests.conftest import database_url_for
from tests.pgserver import free_port


@dataclass
class Balancer:
    """Round robin: each webhook POST goes to the next replica; ``routed`` says which got what."""

    ports: list[int]
    routed: list[tuple[int, int]] = field(default_factory=list)  # (update_id, replica)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        replica = len(self.routed) % len(self.ports)
        self.routed.append((int(json.loads(body)["update_id"]), replica))
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-telegram")}
        headers["Content-Type"] = "application/json"
        url = f"http://127.0.0.1:{self.ports[replica]}{request.path}"
        async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
            return web.Response(status=r.status, body=await r.read())


@dataclass
class Hub:
    sandbox: RunningSandbox
    chat: SandboxClient
    core: AccessCore  # the test's own view of the shared database
    balancer: Balancer
    secret: str
    clock: ManualClock
    go: Any
    stop: Any
    processes: list[Any]

    async def until(self, condition: Callable[[], bool], seconds: float = 120) -> None:
        changed = self.sandbox.state.changed
        async with changed:
            await asyncio.wait_for(changed.wait_for(condition), seconds)

    def sent(self, chat_id: int, after: int = 0) -> list[str]:
        events = self.sandbox.state.events_after(after, chat_id)
        return [e.text for e in events if e.kind == "sent"]

    async def end(self) -> None:
        self.stop.set()
        self.go.set()
        for process in self.processes:
            await asyncio.to_thread(process.join, 60)
            if process.is_alive():
                process.kill()
            assert process.exitcode == 0


@pytest.fixture
async def hub(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[Hub]:
    url = await database_url_for("postgres", tmp_path, request)
    key = generate_key()
    ports = [free_port(), free_port()]
    balancer = Balancer(ports)
    runner = web.AppRunner(web.Application(), access_log=None)
    runner.app.router.add_post("/{tail:.*}", balancer.handle)
    await runner.setup()
    front = free_port()
    await web.TCPSite(runner, "127.0.0.1", front).start()
    async with serve(TOKEN) as sandbox, SandboxClient(sandbox.url) as chat:
        settings = worker_settings(sandbox.url, f"http://127.0.0.1:{front}", ports[0], key)
        core = AccessCore(SqlStore(url), settings.core(), clock, bot_policy())
        await core.start()
        user = await core.directory.resolve(Actor(telegram_id=ADMIN_ID))
        assert user is not None
        enrolment = await core.totp.begin_enrolment(user)
        await core.totp.confirm_enrolment(user, pyotp.TOTP(enrolment.secret).at(clock.now()))
        clock.advance(60)  # the replicas' time: a later code step than the enrolment's
        for chat_id in (ADMIN_ID, ADMIN_CHAT):
            await chat.register(chat_id)
        context = multiprocessing.get_context("spawn")
        go, stop = context.Event(), context.Event()
        processes, readies = [], []
        for tag, port in zip("ab", ports, strict=True):
            ready = context.Event()
            config = {
                "url": url, "sandbox": sandbox.url, "balancer": f"http://127.0.0.1:{front}",
                "port": port, "key": key, "when": clock.now().isoformat(), "tag": tag,
            }  # fmt: skip
            process = context.Process(target=serve_replica, args=(config, ready, go, stop))
            process.start()
            processes.append(process)
            readies.append(ready)
        hub = Hub(sandbox, chat, core, balancer, enrolment.secret, clock, go, stop, processes)
        try:
            for ready, process in zip(readies, processes, strict=True):
                started = await asyncio.to_thread(_started, ready, process)
                assert started, f"a replica did not start (exit code {process.exitcode})"
            yield hub
        finally:
            await hub.end()
            await core.close()
    await runner.cleanup()


def _started(ready: Any, process: Any, seconds: int = 120) -> bool:
    """Whether ``process`` said it is ready; ``False`` as soon as it died instead."""
    for _ in range(seconds):
        if ready.wait(1):
            return True
        if not process.is_alive():
            return ready.is_set()
    return False


async def test_a_code_prompt_from_one_replica_is_answered_on_the_other(hub: Hub) -> None:
    seq = await hub.chat.say(ADMIN_ID, "/logs web 5")
    await hub.until(lambda: len(hub.sent(ADMIN_ID, seq)) >= 1)
    [prompt] = hub.sent(ADMIN_ID, seq)
    assert "2FA code" in prompt

    seq = await hub.chat.say(ADMIN_ID, pyotp.TOTP(hub.secret).at(hub.clock.now()))
    await hub.until(lambda: len(hub.sent(ADMIN_ID, seq)) >= 2)
    accepted, logs = hub.sent(ADMIN_ID, seq)
    assert accepted == "✅ Code accepted."
    assert "container engine" in logs and "unreachable" in logs  # /logs ran (no engine here)
    # The balancer sent the command to one replica and the code to the other, which replayed it.
    assert [replica for _, replica in hub.balancer.routed] == [0, 1]
    await hub.end()  # both stopped: nothing can still be on its way
    assert len(hub.sent(ADMIN_ID, seq)) == 2  # replayed once, on the replica that got the code
    assert await hub.core.store.pending.purge(hub.clock.now() + timedelta(days=1)) == 0


async def test_a_thousand_alerts_from_both_replicas_reach_the_chat_once_each(hub: Hub) -> None:
    title = re.compile(r"<b>(alert [ab]\d+)</b>")
    expected = {f"alert {tag}{n}" for tag in "ab" for n in range(ALERTS_EACH)}

    def delivered() -> Counter[str]:
        found = (title.search(text) for text in hub.sent(ADMIN_CHAT))
        return Counter(match.group(1) for match in found if match)

    hub.go.set()  # both raise their 500 while both drain the one outbox
    await hub.until(lambda: set(delivered()) == expected, 300)
    await hub.end()  # both stopped: a late duplicate would be in the transcript now
    counts = delivered()
    assert set(counts) == expected and set(counts.values()) == {1}
    assert await hub.core.store.outbox.due(hub.clock.now() + timedelta(days=1), 10) == []


class Recorder:
    name = f"telegram:{ADMIN_CHAT}"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)


async def test_a_sender_killed_mid_send_leaves_its_claim_to_run_out(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> None:
    url = await database_url_for("postgres", tmp_path, request)
    settings = worker_settings("http://127.0.0.1:9", "http://127.0.0.1:9", 8443, generate_key())
    core = AccessCore(SqlStore(url), settings.core(), clock)
    await core.start()
    try:
        await core.alerts.raise_alert(Alert("test", "lonely alert", clock.now()))
        context = multiprocessing.get_context("spawn")
        sending = context.Event()
        process = context.Process(
            target=claim_and_hang, args=(url, clock.now().isoformat(), sending)
        )
        process.start()
        assert await asyncio.to_thread(sending.wait, 120), "the other sender never sent"
        process.kill()  # SIGKILL in the middle of the send: its claim is committed
        await asyncio.to_thread(process.join, 60)
        assert process.exitcode == -9
        recipient = Recorder()
        dispatcher = core.dispatcher([recipient])
        assert await dispatcher.deliver_due() == 0  # the dead sender's claim still holds
        clock.advance(29)
        assert await dispatcher.deliver_due() == 0
        clock.advance(1)  # alerts.retry_seconds: the claim has run out, and is taken again
        assert await dispatcher.deliver_due() == 1
        assert len(recipient.sent) == 1 and "lonely alert" in recipient.sent[0]
    finally:
        await core.close()
