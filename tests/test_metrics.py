"""Health and metrics: the bot's gate and the audit trail feed them; /healthz and /metrics read.

The bot runs over the memory store through ``feed_update`` (tests/bot/conftest.py); the listener
is served by aiohttp's test server, the console's routes through httpx's ASGI transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp
from hostwarden.config import MetricsSettings, TelegramSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.listening import is_loopback
from hostwarden.metrics import Metrics, listener_app
from hostwarden.sandbox.client import SandboxClient
from hostwarden.sandbox.server import serve
from hostwarden.storage.memory import MemoryStore
from hostwarden.web.app import create_app
from tests.bot.conftest import ADMIN_ID, STRANGER_ID, USER_ID, Harness, bot_settings, make_harness
from tests.bot.fakes import TOKEN
from tests.pgserver import free_port
from tests.web.conftest import UA, Console, fake_services, make_console, web_settings


def value(metrics: Metrics, name: str, **labels: str) -> float:
    """A sample's value, 0 when it was never set."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


Listener = TestClient[web.Request, web.Application]


@pytest.fixture
async def harness(clock: ManualClock) -> AsyncIterator[Harness]:
    h, core = await make_harness(bot_settings(), clock)
    yield h
    await core.close()


@pytest.fixture
async def listener(harness: Harness) -> AsyncIterator[Listener]:
    app = harness.app
    client = TestClient(TestServer(listener_app(app.metrics, app.core, lambda: app.serving)))
    await client.start_server()
    yield client
    await client.close()


async def test_gate_counts_updates_by_verdict_and_times_the_guard(harness: Harness) -> None:
    metrics = harness.app.metrics
    await harness.say(USER_ID, "/start")
    await harness.say(STRANGER_ID, "/status")
    await harness.say(STRANGER_ID, "/status")
    assert value(metrics, "hostwarden_updates_total", verdict="allow") == 1
    assert value(metrics, "hostwarden_updates_total", verdict="drop") == 2
    assert value(metrics, "hostwarden_guard_seconds_count", front="bot") == 3
    assert value(metrics, "hostwarden_guard_seconds_sum", front="bot") > 0


async def test_blocks_alerts_and_deliveries_show_by_audit_kind(harness: Harness) -> None:
    metrics = harness.app.metrics
    for _ in range(3):  # the third attempt blocks the stranger
        await harness.say(STRANGER_ID, "hi")
    assert value(metrics, "hostwarden_audit_events_total", kind="block.created") == 1
    raised = value(metrics, "hostwarden_audit_events_total", kind="alert.raised")
    assert raised >= 1
    assert (
        value(metrics, "hostwarden_alerts_raised_total", folded="false")
        + value(metrics, "hostwarden_alerts_raised_total", folded="true")
        == raised
    )
    assert await harness.admin_chat()
    assert value(metrics, "hostwarden_alerts_delivered_total") >= 1


async def test_an_observer_that_fails_costs_no_event(harness: Harness) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("boom")

    harness.core.audit.observers.insert(0, broken)
    await harness.say(STRANGER_ID, "hi")
    metrics = harness.app.metrics
    assert value(metrics, "hostwarden_audit_events_total", kind="alert.raised") == 1


async def test_healthz_follows_the_bot_and_the_store(harness: Harness, listener: Listener) -> None:
    response = await listener.get("/healthz")
    assert (response.status, await response.text()) == (503, "bot")  # not serving yet
    harness.app.serving = True
    response = await listener.get("/healthz")
    assert (response.status, await response.text()) == (200, "ok")
    harness.core.store.health.failed("disk gone")
    response = await listener.get("/healthz")
    assert (response.status, await response.text()) == (503, "store")
    harness.core.store.health.ok()
    response = await listener.get("/healthz")
    assert response.status == 200


async def test_healthz_is_503_when_a_read_fails(
    harness: Harness,
    listener: Listener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness.app.serving = True

    async def lost(*_: object) -> list[object]:
        raise OSError("database is locked")

    monkeypatch.setattr(harness.core.store.blocks, "list", lost)
    response = await listener.get("/healthz")
    assert (response.status, await response.text()) == (503, "store")
    monkeypatch.setattr(harness.core.store.sessions, "list", lost)
    text = await (await listener.get("/metrics")).text()
    assert "hostwarden_store_up 0.0" in text


async def test_metrics_text_parses_and_names_no_one(harness: Harness, listener: Listener) -> None:
    for _ in range(3):
        await harness.say(STRANGER_ID, "/status", username="mallory")
    await harness.say(USER_ID, "/start", username="alice")
    await harness.say(ADMIN_ID, "/start")
    await harness.admin_chat()
    response = await listener.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    text = await response.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"hostwarden_updates", "hostwarden_guard_seconds", "hostwarden_audit_events"} <= set(
        families
    )
    assert {"hostwarden_outbox_due", "hostwarden_sessions", "hostwarden_store_up"} <= set(families)
    labels = {v for f in families.values() for s in f.samples for v in s.labels.values()}
    for secret in (str(STRANGER_ID), str(USER_ID), str(ADMIN_ID), "mallory", "alice"):
        assert not any(secret in label for label in labels), secret
    assert str(STRANGER_ID) not in text and "mallory" not in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text


async def test_the_console_serves_health_and_metrics_to_loopback_only(
    clock: ManualClock,
) -> None:
    settings = web_settings(metrics=MetricsSettings(console=True))
    remote, core = await make_console(clock, settings)
    metrics = Metrics()
    app = create_app(core, settings, fake_services(settings), metrics=metrics)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    local = Console(
        httpx.AsyncClient(
            transport=transport, base_url="https://testserver", headers={"user-agent": UA}
        ),
        core,
        clock,
    )
    local.secrets.update(remote.secrets)
    try:
        health = await remote.client.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok")
        assert (await remote.client.get("/metrics")).status_code == 404  # not loopback
        await local.login_admin()
        assert (await local.client.get("/")).status_code == 200
        forwarded = await local.client.get("/metrics", headers={"x-forwarded-for": "127.0.0.1"})
        assert forwarded.status_code == 404  # a proxy on this host forwarded it
        scraped = await local.client.get("/metrics")
        assert scraped.status_code == 200
        families = {f.name for f in text_string_to_metric_families(scraped.text)}
        assert "hostwarden_web_decisions" in families
        assert value(metrics, "hostwarden_web_decisions_total", verdict="allow") >= 1
        assert value(metrics, "hostwarden_guard_seconds_count", front="web") >= 1
        assert value(metrics, "hostwarden_audit_events_total", kind="login.succeeded") == 1
        assert value(metrics, "hostwarden_sessions") == 1
        core.store.health.failed("disk gone")
        health = await remote.client.get("/healthz")
        assert (health.status_code, health.text) == (503, "store")
    finally:
        await local.client.aclose()
        await remote.client.aclose()
        await core.close()


async def test_the_console_serves_neither_unless_enabled(clock: ManualClock) -> None:
    console, core = await make_console(clock)
    try:
        assert (await console.client.get("/healthz")).status_code == 404
        assert (await console.client.get("/metrics")).status_code == 404
    finally:
        await console.client.aclose()
        await core.close()


def test_loopback_means_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.8.9.10")
    assert not is_loopback("10.0.0.1") and not is_loopback(None) and not is_loopback("testclient")


async def test_the_running_bot_serves_the_listener_while_it_polls(clock: ManualClock) -> None:
    port = free_port()
    async with serve(TOKEN) as sandbox, SandboxClient(sandbox.url) as chat:
        base = bot_settings()
        settings = bot_settings(
            telegram=TelegramSettings(token=SecretStr(TOKEN), api_base=sandbox.url),
            totp=base.totp,
            metrics=MetricsSettings(port=port),
        )
        core = AccessCore(MemoryStore(), settings.core(), clock, bot_policy())
        await core.start()
        await chat.register(USER_ID, first_name="Known")
        app = BotApp(settings, core)
        stop = asyncio.Event()
        running = asyncio.create_task(app.run(stop))
        url = f"http://127.0.0.1:{port}"
        try:
            [answer] = await chat.converse(USER_ID, "/status")  # polling works
            assert "CPU" in answer["text"]
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/healthz") as response:
                    assert (response.status, await response.text()) == (200, "ok")
                async with http.get(f"{url}/metrics") as response:
                    text = await response.text()
            assert 'hostwarden_updates_total{verdict="allow"} 1.0' in text
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
            await core.close()
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(f"{url}/healthz")
