"""End to end: the bot on SQLite, polling the sandbox through aiogram's real HTTP client."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from pydantic import SecretStr

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp
from hostwarden.config import Settings, TelegramSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore
from hostwarden.sandbox.client import SandboxClient
from hostwarden.sandbox.server import serve
from hostwarden.storage.sql import SqlStore
from tests.bot.conftest import ADMIN_ID, STRANGER_ID, USER_ID, bot_settings
from tests.bot.fakes import TOKEN


@dataclass
class Live:
    app: BotApp
    chat: SandboxClient
    clock: ManualClock
    secret: str

    def code(self) -> str:
        self.clock.advance(30)
        return pyotp.TOTP(self.secret).at(self.clock.now())


@pytest.fixture
async def live(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Live]:
    async with serve(TOKEN) as sandbox, SandboxClient(sandbox.url) as chat:
        base = bot_settings()
        settings: Settings = bot_settings(
            telegram=TelegramSettings(
                token=SecretStr(TOKEN),
                admin_chat_ids=[ADMIN_ID],
                api_base=sandbox.url,
                alert_every_seconds=0.1,
            ),
            totp=base.totp,
        )
        core = AccessCore(SqlStore(str(tmp_path / "bot.db")), settings.core(), clock, bot_policy())
        await core.start()
        admin = await core.directory.resolve(Actor(telegram_id=ADMIN_ID))
        assert admin is not None
        enrolment = await core.totp.begin_enrolment(admin)
        await core.totp.confirm_enrolment(admin, pyotp.TOTP(enrolment.secret).at(clock.now()))
        for user_id in (ADMIN_ID, USER_ID):
            await chat.register(user_id, first_name="Known")
        app = BotApp(settings, core)
        stop = asyncio.Event()
        running = asyncio.create_task(app.run(stop))
        # The enrolment above raised an alert; let it reach the admin chat first.
        [enrolled] = await chat.events(0, ADMIN_ID, count=1, wait=15)
        assert "Second factor enrolled" in enrolled["text"]
        try:
            yield Live(app, chat, clock, enrolment.secret)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
            await core.close()


async def test_known_user_gets_views_and_buttons_over_real_http(live: Live) -> None:
    [status] = await live.chat.converse(USER_ID, "/status")
    assert "CPU" in status["text"] and status["kind"] == "sent"
    [menu] = await live.chat.converse(USER_ID, "/menu")
    assert any("v:cpu" in button for row in menu["buttons"] for button in row)
    seq = await live.chat.press(USER_ID, menu["message_id"], "v:cpu")
    events = await live.chat.events(seq, USER_ID, count=2, wait=15)
    kinds = {e["kind"] for e in events}
    assert kinds == {"answered", "edited"}
    [edited] = [e for e in events if e["kind"] == "edited"]
    assert edited["message_id"] == menu["message_id"] and "Load" in edited["text"]


async def test_stranger_is_silent_admin_is_alerted_and_names_stay_text(live: Live) -> None:
    hostile = {"first_name": "<script>alert(1)</script>\u202e", "username": "x" * 4096}
    seq = await live.chat.say(STRANGER_ID, "/start", **hostile)
    [alert] = await live.chat.events(seq, ADMIN_ID, count=1, wait=15)
    # The sandbox refuses markup Telegram would refuse, so arriving at all proves the escaping.
    assert "Unauthorized access attempt" in alert["text"]
    assert "<script>" not in alert["text"] and "\u202e" not in alert["text"]
    assert len(alert["text"]) < 4096
    assert await live.chat.events(seq, STRANGER_ID) == []
    [mine] = await live.chat.converse(STRANGER_ID, "/getmyid", **hostile)
    assert str(STRANGER_ID) in mine["text"]


async def test_admin_2fa_prompt_then_the_action_runs_and_buttons_unblock(live: Live) -> None:
    # A stranger gets blocked first, so /blocked has something to show.
    for _ in range(3):
        seq = await live.chat.say(STRANGER_ID, "hi")
    await live.chat.events(seq, ADMIN_ID, count=2, wait=15)

    [prompt] = await live.chat.converse(ADMIN_ID, "/blocked")
    assert "2FA code" in prompt["text"]
    seq = await live.chat.say(ADMIN_ID, live.code())
    events = await live.chat.events(seq, ADMIN_ID, count=3, wait=15)
    sent = [e for e in events if e["kind"] == "sent"]
    assert sent[0]["text"] == "✅ Code accepted."
    listing = sent[1]
    assert "Blocks</b> (1)" in listing["text"] and str(STRANGER_ID) not in listing["text"]
    assert any(e["kind"] == "deleted" for e in events)  # the code message is gone

    [[button]] = listing["buttons"]
    seq = await live.chat.press(ADMIN_ID, listing["message_id"], button.split("|", 1)[1])
    events = await live.chat.events(seq, ADMIN_ID, count=2, wait=15)
    assert any("Block lifted" in e["text"] for e in events)
    assert await live.app.core.lockout.list_blocks() == []


async def test_enrolment_photo_is_a_protected_spoiler(live: Live) -> None:
    events = await live.chat.converse(USER_ID, "/enroll2fa", count=2)
    photo, secret = events
    assert photo["media"] == "photo" and photo["spoiler"] and photo["protected"]
    assert photo["file_size"] > 100
    assert "<code>" in secret["text"] and secret["protected"]


async def test_the_cli_chats_through_the_sandbox(live: Live) -> None:
    url = live.app.settings.telegram.api_base
    assert url is not None
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hostwarden", "sandbox", "say", "--url", url, "--as", str(USER_ID),
        "/uptime", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert "Uptime" in stdout.decode() and "Booted" in stdout.decode()


async def test_the_cli_says_clearly_when_no_sandbox_runs() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hostwarden", "sandbox", "say", "--url", "http://127.0.0.1:9",
        "--as", "1", "/status", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert stderr.decode().strip() == (
        "error: no sandbox answers at http://127.0.0.1:9 (is `hostwarden demo` running?)"
    )
