"""A bot over the memory store, a manual clock and a recording session, driven by feed_update."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp
from hostwarden.config import Settings, TelegramSettings
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor, User
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings, TotpSettings
from hostwarden.host.thresholds import MonitorSettings
from hostwarden.storage.memory import MemoryStore
from hostwarden.updates import UpdateSettings
from tests.bot.fakes import TOKEN, RecordingSession, callback_update, make_bot, message_update

ADMIN_CHAT = 900
USER_ID = 1001
ADMIN_ID = 1002
STRANGER_ID = 555_123_456


def bot_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram": TelegramSettings(token=SecretStr(TOKEN), admin_chat_ids=[ADMIN_CHAT]),
        "access": AccessSettings(allowed_telegram_ids=[USER_ID], admin_telegram_ids=[ADMIN_ID]),
        "totp": TotpSettings(encryption_key=SecretStr(Fernet.generate_key().decode())),
        "containers": ContainerSettings(
            docker_url="unix:///nonexistent/docker.sock", timeout_seconds=2
        ),
        "monitor": MonitorSettings(enabled=False),
        "updates": UpdateSettings(
            release_feed_url="http://127.0.0.1:9/releases", timeout_seconds=2
        ),
    }
    values.update(overrides)
    return Settings(**values)


class Harness:
    """Say things as any user; read what the bot sent."""

    def __init__(self, app: BotApp, session: RecordingSession, clock: ManualClock) -> None:
        self.app = app
        self.session = session
        self.clock = clock
        self.core = app.core

    async def say(self, user_id: int, text: str, **user: Any) -> list[str]:
        self.session.clear()
        await self.app.dispatcher.feed_update(self.app.bot, message_update(user_id, text, **user))
        return self.session.texts(user_id)

    async def press(self, user_id: int, data: str) -> list[str]:
        self.session.clear()
        await self.app.dispatcher.feed_update(self.app.bot, callback_update(user_id, data))
        return self.session.texts(user_id)

    async def admin_chat(self) -> list[str]:
        """Deliver the alert outbox and return what reached the admin chat."""
        self.session.clear()
        await self.app.deliver_alerts()
        return self.session.texts(ADMIN_CHAT)

    async def user(self, telegram_id: int) -> User:
        user = await self.core.directory.resolve(Actor(telegram_id=telegram_id))
        assert user is not None
        return user

    async def enrol(self, telegram_id: int) -> str:
        """Enrol a second factor directly in the core; returns the secret."""
        user = await self.user(telegram_id)
        enrolment = await self.core.totp.begin_enrolment(user)
        await self.core.totp.confirm_enrolment(user, self.code(enrolment.secret))
        self.clock.advance(30)  # the next code is a new step
        return enrolment.secret

    def code(self, secret: str) -> str:
        return pyotp.TOTP(secret).at(self.clock.now())


async def make_harness(settings: Settings, clock: ManualClock) -> tuple[Harness, AccessCore]:
    core = AccessCore(MemoryStore(), settings.core(), clock, bot_policy())
    await core.start()
    session = RecordingSession()
    app = BotApp(settings, core, bot=make_bot(session))
    return Harness(app, session, clock), core


@pytest.fixture
async def harness(clock: ManualClock) -> AsyncIterator[Harness]:
    h, core = await make_harness(bot_settings(), clock)
    yield h
    await core.close()
