"""Shared by the bot benchmarks: a bot over a chosen store, fed with feed_update, no network."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.memory import MemoryStorage
from pydantic import SecretStr
from tests.bot.fakes import TOKEN, RecordingSession, make_bot

from bench.common import ALLOWED_ID, Backends
from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp, routers
from hostwarden.bot.gate import AccessGate
from hostwarden.bot.services import BotServices
from hostwarden.config import Settings, TelegramSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.guard import Decision, Verdict
from hostwarden.core.identity import Actor
from hostwarden.core.secretbox import generate_key
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings, TotpSettings
from hostwarden.host.thresholds import MonitorSettings

ADMIN_CHAT = 900


def bot_bench_settings() -> Settings:
    return Settings(
        telegram=TelegramSettings(token=SecretStr(TOKEN), admin_chat_ids=[ADMIN_CHAT]),
        access=AccessSettings(allowed_telegram_ids=[ALLOWED_ID]),
        totp=TotpSettings(encryption_key=SecretStr(generate_key())),
        monitor=MonitorSettings(enabled=False),
    )


class QuietSession(RecordingSession):
    """Answers like Telegram but keeps only a count, so memory measures the bot, not the log."""

    sent = 0

    async def make_request(self, bot: Bot, method, timeout=None):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
        result = await super().make_request(bot, method, timeout)
        self.calls.clear()
        if type(method).__name__ == "SendMessage":
            QuietSession.sent += 1
        return result


@asynccontextmanager
async def bench_bot(backends: Backends, backend: str) -> AsyncIterator[BotApp]:
    settings = bot_bench_settings()
    core = AccessCore(await backends.store(backend), settings.core(), ManualClock(), bot_policy())
    await core.start()
    try:
        yield BotApp(settings, core, bot=make_bot(QuietSession()))
    finally:
        await core.close()


class _AllowEverything:
    """A guard that asks no store: every update is allowed, as if there were no access control."""

    async def decide(self, actor: Actor, action: str, host: str | None = None) -> Decision:
        return Decision(Verdict.ALLOW, "bench")


def ungated_dispatcher(services: BotServices) -> Dispatcher:
    """The same routers, reading and handlers with no guard: only to measure what it costs.

    Routers dispatch on the gate's reading, so the reading stays; the decision is the part left
    out.
    """
    core = SimpleNamespace(guard=_AllowEverything(), health=SimpleNamespace(available=True))
    ungated = dataclasses.replace(services, core=core)  # type: ignore[arg-type]
    dispatcher = Dispatcher(storage=MemoryStorage(), hw=ungated)
    dispatcher.update.outer_middleware(AccessGate(ungated))
    dispatcher.include_routers(*routers())
    return dispatcher
