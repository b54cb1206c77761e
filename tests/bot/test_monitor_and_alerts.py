"""Thresholds with hysteresis, the release check, and alert delivery that survives outages."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import GetMe, TelegramMethod
from aiohttp import web
from packaging.version import Version
from pydantic import SecretStr, ValidationError

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp, notifiers_for
from hostwarden.bot.notifiers import AppriseNotifier
from hostwarden.bot.render import MESSAGE_LIMIT, Renderer
from hostwarden.config import TelegramSettings
from hostwarden.core.alerts import Alert
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AlertSettings
from hostwarden.host.metrics import HostReader
from hostwarden.host.monitor import HostMonitor
from hostwarden.host.thresholds import Crossing, MonitorSettings, ThresholdMonitor
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.memory import MemoryStore
from hostwarden.updates import UpdateSettings, newest_release
from tests.bot.conftest import (
    ADMIN_CHAT,
    STRANGER_ID,
    USER_ID,
    Harness,
    bot_settings,
    make_harness,
)
from tests.bot.fakes import TOKEN, RecordingSession, make_bot, message_update
from tests.doubles import ReleaseFeed, serving


def test_hysteresis_one_alert_while_a_value_hovers_at_the_line() -> None:
    monitor = ThresholdMonitor({"cpu": 90}, hysteresis=5)
    seen = [monitor.observe({"cpu": v}) for v in (50, 91, 89, 90.5, 86, 92, 84, 91)]
    crossings = [(e[0].crossing, e[0].value) for e in seen if e]
    assert crossings == [(Crossing.ABOVE, 91), (Crossing.RECOVERED, 84), (Crossing.ABOVE, 91)]


async def test_monitor_turns_crossings_into_alerts(harness: Harness) -> None:
    monitor = HostMonitor(
        harness.core.alerts,
        harness.clock,
        MonitorSettings(disk_percent=80, temperature_celsius=70),
        HostReader(),
    )
    raised = await monitor.check({"cpu": 10, "disk:/var": 85, "temperature:coretemp/Package": 71})
    assert sorted(a.title for a in raised) == [
        "Disk /var above 80%",
        "Temperature coretemp/Package above 70 °C",
    ]
    assert (
        await monitor.check({"cpu": 10, "disk:/var": 83, "temperature:coretemp/Package": 69}) == []
    )
    [back] = await monitor.check({"cpu": 10, "disk:/var": 70, "temperature:coretemp/Package": 69})
    assert back.title == "Disk /var back to normal"
    texts = await harness.admin_chat()
    assert any("Disk /var above 80%" in t for t in texts)


def test_release_feed_parsing_skips_drafts_and_prereleases() -> None:
    feed = [
        {"tag_name": "v0.9.0", "html_url": "u9"},
        {"tag_name": "v1.1.0rc1", "prerelease": True},
        {"tag_name": "v1.0.0", "html_url": "u10"},
        {"tag_name": "v2.0.0", "draft": True},
        {"tag_name": "nonsense"},
    ]
    assert newest_release(feed) == (Version("1.0.0"), "u10")
    assert newest_release({"message": "Not Found"}) is None


async def test_check_bot_updates_against_a_feed_double(clock: ManualClock) -> None:
    feed = ReleaseFeed({"tag_name": "v9.9.9", "html_url": "https://example.org/r/9.9.9"})
    async with serving(feed) as url:
        settings = bot_settings(updates=UpdateSettings(release_feed_url=f"{url}/releases/latest"))
        harness, core = await make_harness(settings, clock)
        [newer] = await harness.say(USER_ID, "/check_bot_updates")
        assert "9.9.9 is out" in newer
        feed.body = {"tag_name": "v0.0.1"}
        [same] = await harness.say(USER_ID, "/check_bot_updates")
        assert "is the latest release" in same
        feed.status = 503
        [down] = await harness.say(USER_ID, "/check_bot_updates")
        assert "HTTP 503" in down
        await core.close()
    [gone] = await harness.say(USER_ID, "/check_bot_updates")
    assert "unreachable" in gone


async def test_alerts_wait_out_a_telegram_outage_and_then_arrive(harness: Harness) -> None:
    await harness.say(STRANGER_ID, "/start")
    harness.session.fail_with = TelegramNetworkError(method=GetMe(), message="unreachable")
    assert await harness.app.deliver_alerts() == 0
    harness.session.fail_with = None
    assert await harness.admin_chat() == []  # not due yet: backing off
    harness.clock.advance(31)
    [alert] = await harness.admin_chat()
    assert "Unauthorized access attempt" in alert
    assert await harness.admin_chat() == []  # delivered once


async def test_apprise_targets_get_the_same_alert() -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(json.loads(await request.text()))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        notifier = AppriseNotifier(f"json://127.0.0.1:{port}/hook", 1)
        assert notifier.name == "apprise:1"  # never the URL, which may hold a secret
        from datetime import UTC, datetime

        text = Alert(
            "unauthorized", "Unauthorized access attempt", datetime.now(UTC), user_id=STRANGER_ID
        ).render()
        await notifier.send(text)
    finally:
        await runner.cleanup()
    [body] = received
    assert "Unauthorized access attempt" in body["message"]
    assert str(STRANGER_ID) not in body["message"]


MISSING_CHAT = 987_654_321


class ChatNotFound(RecordingSession):
    """Telegram as it answers for a chat the bot cannot write to (left, blocked, mistyped)."""

    def __init__(self, missing: int) -> None:
        super().__init__()
        self.missing = missing
        self.refused = 0

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> Any:
        if getattr(method, "chat_id", None) != self.missing:
            return await super().make_request(bot, method, timeout)
        self.refused += 1
        answer = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        return self.check_response(bot, method, 400, json.dumps(answer)).result


def test_each_admin_chat_and_apprise_target_is_its_own_recipient() -> None:
    telegram = TelegramSettings(
        token=SecretStr(TOKEN),
        admin_chat_ids=[ADMIN_CHAT, MISSING_CHAT, ADMIN_CHAT],
        apprise_urls=[SecretStr("json://127.0.0.1:9/a"), SecretStr("json://user:pw@127.0.0.1:9/b")],
    )
    names = [n.name for n in notifiers_for(make_bot(RecordingSession()), telegram)]
    assert names == [f"telegram:{ADMIN_CHAT}", f"telegram:{MISSING_CHAT}", "apprise:1", "apprise:2"]


async def test_a_chat_not_found_does_not_repeat_alerts_to_the_valid_chat(
    clock: ManualClock,
) -> None:
    telegram = TelegramSettings(token=SecretStr(TOKEN), admin_chat_ids=[MISSING_CHAT, ADMIN_CHAT])
    settings = bot_settings(telegram=telegram)
    core = AccessCore(MemoryStore(), settings.core(), clock, bot_policy())
    await core.start()
    session = ChatNotFound(MISSING_CHAT)
    app = BotApp(settings, core, bot=make_bot(session))
    for stranger in (STRANGER_ID, STRANGER_ID + 1, STRANGER_ID + 2):
        await app.dispatcher.feed_update(app.bot, message_update(stranger, "/start"))
    for _ in range(26 * 60):  # a day and more, delivering every simulated minute
        await app.deliver_alerts()
        clock.advance(60)
    texts = session.texts(ADMIN_CHAT)
    assert len(texts) == len(set(texts)) == 3
    assert all("Unauthorized access attempt" in t for t in texts)
    gave_up = await core.audit.query(AuditQuery(kind=Kind.ALERT_UNDELIVERABLE))
    assert len(gave_up) == 3 and 3 * 20 < session.refused < 3 * 40
    refused = session.refused
    for _ in range(120):
        await app.deliver_alerts()
        clock.advance(60)
    assert session.refused == refused and len(session.texts(ADMIN_CHAT)) == 3
    await core.close()


HOST = "edge-01 <lab>"
HEADER = "🖥 <i>edge-01 &lt;lab&gt;</i>\n"
NAMED = "\nHost: edge-01 &lt;lab&gt;\n"


async def test_every_view_and_every_alert_names_the_host(clock: ManualClock) -> None:
    settings = bot_settings(
        monitor=MonitorSettings(enabled=False, host_label=HOST),
        alerts=AlertSettings(digest_above_per_minute=1),
    )
    harness, core = await make_harness(settings, clock)
    for command in ("/status", "/cpu", "/memory", "/disks", "/network", "/uptime", "/sensors"):
        [view] = await harness.say(USER_ID, command)
        assert view.startswith(HEADER), (command, view[:80])
    [status] = await harness.say(USER_ID, "/status")
    assert status.split("\n")[1].startswith("<b>Status</b>")
    for stranger in (STRANGER_ID, STRANGER_ID + 1, STRANGER_ID + 2):
        await harness.say(stranger, "/start")
    clock.advance(60)  # the digest is due after its minute
    single, digest = await harness.admin_chat()
    assert single.startswith("<b>Unauthorized access attempt</b>" + NAMED)
    assert digest.startswith("<b>Alert digest</b>" + NAMED)
    harness.session.clear()
    core.health.failed("the database file is missing")
    await harness.app.store_alerts.drain()
    [lost] = harness.session.texts(ADMIN_CHAT)
    assert lost.startswith("<b>Store unavailable</b>" + NAMED)
    await core.close()


def test_the_host_label_defaults_to_the_hostname_and_is_bounded() -> None:
    assert MonitorSettings().host_label == socket.gethostname()[:64]
    with pytest.raises(ValidationError):
        MonitorSettings(host_label="a" * 65)
    with pytest.raises(ValidationError):
        MonitorSettings(host_label="two\nlines")


def test_a_view_cut_to_fit_keeps_its_host_line() -> None:
    renderer = Renderer(host=HOST)
    text = renderer.render("logs", name="web", count=2000, text="x" * 9000, cut=True)
    assert text.startswith(HEADER) and len(text) <= MESSAGE_LIMIT
    assert "cut to fit" in text
    assert not Renderer().render("uptime", seconds=5, booted=datetime.now(UTC)).startswith("🖥")
