"""A first run cannot lock the owner out: config-allowed IDs shed old blocks; the claim code."""

from __future__ import annotations

import logging
import re

import pytest

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp
from hostwarden.bot.claim import CLAIM_SECONDS
from hostwarden.config import Settings
from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Role, User
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.memory import MemoryStore
from tests.bot.conftest import Harness, bot_settings
from tests.bot.fakes import RecordingSession, make_bot

OWNER = 777_000_001
OTHER = 777_000_002


def settings_with(
    allowed: list[int], admins: list[int], chats: list[int] | None = None
) -> Settings:
    base = bot_settings()
    telegram = base.telegram
    if chats is not None:
        telegram = telegram.model_copy(update={"admin_chat_ids": chats})
    access = AccessSettings(allowed_telegram_ids=allowed, admin_telegram_ids=admins)
    return base.model_copy(update={"access": access, "telegram": telegram})


async def start(store: MemoryStore, settings: Settings, clock: ManualClock) -> Harness:
    """A bot process over ``store`` (a restart keeps the store), prepared as `run` does."""
    core = AccessCore(store, settings.core(), clock, bot_policy())
    await core.start()
    session = RecordingSession()
    app = BotApp(settings, core, bot=make_bot(session))
    await app.prepare()
    return Harness(app, session, clock)


async def test_the_owner_blocked_as_a_stranger_is_served_once_configured(
    clock: ManualClock,
) -> None:
    store = MemoryStore()
    first = await start(store, settings_with([], [1002]), clock)
    for text in ("/start", "/getmyid", "hello"):  # what a new owner does before configuring
        await first.say(OWNER, text)
    assert await first.core.lockout.blocked((f"tg:{OWNER}",)) is not None
    # The owner adds their ID to the config and restarts the bot: served at once.
    second = await start(store, settings_with([], [OWNER]), clock)
    [status] = await second.say(OWNER, "/status")
    assert "CPU" in status
    lifted = await second.core.audit.query(AuditQuery(kind=Kind.BLOCK_LIFTED))
    assert [(e.actor, e.subject) for e in lifted] == [("config", f"tg:{OWNER}")]


async def test_with_no_admin_a_claim_code_makes_its_sender_the_admin_once(
    clock: ManualClock, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hostwarden.bot"):
        bot = await start(MemoryStore(), settings_with([], []), clock)
    printed = capsys.readouterr().err
    match = re.search(r"/claim ([A-Z0-9]{10})", printed)
    assert match is not None
    code = match.group(1)
    assert code in caplog.text  # in the log too
    # A wrong code is silence, and counts like any stranger's attempt.
    assert await bot.say(OWNER, "/claim AAAAAAAAAA") == []
    attempts = await bot.core.audit.query(AuditQuery(kind=Kind.ACCESS_UNKNOWN))
    assert len(attempts) == 1
    [welcome] = await bot.say(OWNER, f"/claim {code.lower()}")
    assert "admin" in welcome
    [audit] = await bot.say(OWNER, "/audit")
    assert "admin.claimed" in audit
    # Used up: nobody else can claim with it, and a restart with an admin opens no new claim.
    assert await bot.say(OTHER, f"/claim {code}") == []
    claimed = await bot.core.audit.query(AuditQuery(kind=Kind.ADMIN_CLAIMED))
    assert [e.actor for e in claimed] == [f"tg:{OWNER}"]
    await bot.app.prepare()
    assert bot.app.services.claim is None
    # The event's log line names the account masked, never the full Telegram ID.
    assert all(str(OWNER) not in AuditTrail.log_line(e) for e in claimed)


async def test_the_owners_third_message_can_be_the_claim(
    clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """/start, /getmyid, then /claim: the right code is no stranger's third attempt."""
    bot = await start(MemoryStore(), settings_with([], []), clock)
    match = re.search(r"/claim ([A-Z0-9]{10})", capsys.readouterr().err)
    assert match is not None
    await bot.say(OWNER, "/start")
    await bot.say(OWNER, "/claim WRONGWRONG")  # a typo: counted
    [welcome] = await bot.say(OWNER, f"/claim {match.group(1)}")
    assert "admin" in welcome
    assert await bot.core.lockout.blocked((f"tg:{OWNER}",)) is None


async def test_a_claim_ends_when_an_admin_is_made_another_way(
    clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    bot = await start(MemoryStore(), settings_with([], []), clock)
    match = re.search(r"/claim ([A-Z0-9]{10})", capsys.readouterr().err)
    assert match is not None
    await bot.core.store.users.create(User(0, "alice", (OTHER,), frozenset({Role.ADMIN})))
    assert await bot.say(OWNER, f"/claim {match.group(1)}") == []
    assert await bot.core.audit.query(AuditQuery(kind=Kind.ADMIN_CLAIMED)) == []
    assert bot.app.services.claim is None


async def test_a_claim_code_expires(clock: ManualClock, capsys: pytest.CaptureFixture[str]) -> None:
    bot = await start(MemoryStore(), settings_with([], []), clock)
    match = re.search(r"/claim ([A-Z0-9]{10})", capsys.readouterr().err)
    assert match is not None
    clock.advance(CLAIM_SECONDS)
    assert await bot.say(OWNER, f"/claim {match.group(1)}") == []
    assert await bot.core.audit.query(AuditQuery(kind=Kind.ADMIN_CLAIMED)) == []


async def test_alerts_with_no_destination_are_warned_about(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hostwarden.bot"):
        await start(MemoryStore(), settings_with([], [1002], chats=[]), clock)
    assert "alerts have no destination" in caplog.text
