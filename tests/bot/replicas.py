"""Two hub replicas in one process: each its own store object, core, dispatcher, bot and webhook
server, all on one database; the test is the load balancer and picks the replica per update."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiohttp import web
from pydantic import SecretStr

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import WEBHOOK_PREFIX, BotApp
from hostwarden.bot.services import BotServices
from hostwarden.config import Settings, TelegramSettings, WebhookSettings
from hostwarden.containers.engine import ContainerEngine
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AlertSettings
from hostwarden.storage.sql import SqlStore
from tests.bot.conftest import ADMIN_CHAT, bot_settings
from tests.bot.fakes import TOKEN, RecordingSession, make_bot
from tests.pgserver import free_port

PATH_SECRET = "p-" + "r" * 30
SECRET_TOKEN = "t-" + "s" * 30


def replica_settings() -> Settings:
    """Webhook mode, loopback allowed, and no digest folding (every alert is its own message)."""
    return bot_settings(
        telegram=TelegramSettings(
            token=SecretStr(TOKEN),
            admin_chat_ids=[ADMIN_CHAT],
            mode="webhook",
            webhook=WebhookSettings(
                url="http://127.0.0.1:9",
                path_secret=SecretStr(PATH_SECRET),
                secret_token=SecretStr(SECRET_TOKEN),
                allowed_networks=["127.0.0.0/8"],
            ),
        ),
        alerts=AlertSettings(digest_above_per_minute=100_000),
    )


class WatchedSession(RecordingSession):
    """A recording session the test can wait on: ``until`` returns once a condition holds."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Condition()

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> Any:
        result = await super().make_request(bot, method, timeout)
        async with self.changed:
            self.changed.notify_all()
        return result

    async def until(self, condition: Callable[[], bool], seconds: float = 30) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(condition), seconds)

    def answered(self, query_id: str) -> bool:
        return any(c.callback_query_id == query_id for c in self.named("AnswerCallbackQuery"))  # type: ignore[attr-defined]


class Replica:
    """One hub process's worth of objects, serving its webhook on a loopback port."""

    def __init__(self, app: BotApp, session: WatchedSession, runner: web.AppRunner, port: int):
        self.app = app
        self.core = app.core
        self.session = session
        self._runner = runner
        self.hook = f"http://127.0.0.1:{port}{WEBHOOK_PREFIX}{PATH_SECRET}"

    async def post(self, update: Update) -> None:
        """What Telegram (through the load balancer) does: POST the update to the webhook."""
        body = update.model_dump(mode="json", exclude_none=True)
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET_TOKEN}
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.hook, json=body, headers=headers) as response,
        ):
            assert response.status == 200, await response.text()

    def texts(self, chat_id: int) -> list[str]:
        return self.session.texts(chat_id)

    async def close(self) -> None:
        await self._runner.cleanup()
        await self.core.close()


async def start_replica(
    url: str, settings: Settings, clock: ManualClock, engine: ContainerEngine | None = None
) -> Replica:
    """A replica on the database at ``url``; ``engine`` stands in for the container engine."""
    core = AccessCore(SqlStore(url), settings.core(), clock, bot_policy())
    await core.start()
    services = BotServices.build(core, settings)
    if engine is not None:
        services.engine = engine
    session = WatchedSession()
    app = BotApp(settings, core, services=services, bot=make_bot(session))
    runner = web.AppRunner(app.webhook_app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Replica(app, session, runner, port)
