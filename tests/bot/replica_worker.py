"""Runs in a child process: one hub replica in webhook mode, talking to the sandbox as Telegram.

It serves ``BotApp.webhook_app()`` on its own port and registers the load balancer's URL with
the sandbox, as ``hostwarden bot`` does at start. When told to ``go`` it raises its share of the
alerts through its own core while it drains the shared outbox, until told to ``stop``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import WEBHOOK_PREFIX, BotApp
from hostwarden.config import Settings, TelegramSettings, WebhookSettings
from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from hostwarden.core.secretbox import generate_key
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AlertSettings, TotpSettings
from hostwarden.storage.sql import SqlStore
from tests.bot.conftest import ADMIN_CHAT, bot_settings
from tests.bot.fakes import TOKEN

PATH_SECRET = "p-" + "q" * 30
SECRET_TOKEN = "t-" + "u" * 30
ALERTS_EACH = 500


def worker_settings(sandbox: str, balancer: str, port: int, key: str) -> Settings:
    """Webhook mode behind ``balancer``, Telegram at ``sandbox``, every alert its own message."""
    return bot_settings(
        telegram=TelegramSettings(
            token=SecretStr(TOKEN),
            api_base=sandbox,
            admin_chat_ids=[ADMIN_CHAT],
            mode="webhook",
            webhook=WebhookSettings(
                url=balancer,
                path_secret=SecretStr(PATH_SECRET),
                secret_token=SecretStr(SECRET_TOKEN),
                listen_port=port,
                allowed_networks=["127.0.0.0/8"],
            ),
        ),
        totp=TotpSettings(encryption_key=SecretStr(key)),
        alerts=AlertSettings(digest_above_per_minute=100_000),
    )


async def _drain(app: BotApp, stop: Any) -> None:
    while not stop.is_set():
        await app.deliver_alerts()


async def _raise(core: AccessCore, tag: str) -> None:
    for n in range(ALERTS_EACH):
        await core.alerts.raise_alert(Alert("test", f"alert {tag}{n}", core.clock.now()))


async def _run(config: dict[str, Any], ready: Any, go: Any, stop: Any) -> None:
    settings = worker_settings(config["sandbox"], config["balancer"], config["port"], config["key"])
    clock = ManualClock(datetime.fromisoformat(config["when"]))
    core = AccessCore(SqlStore(config["url"]), settings.core(), clock, bot_policy())
    await core.start()
    app = BotApp(settings, core)
    runner = web.AppRunner(app.webhook_app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", config["port"]).start()
        await app.bot.set_webhook(
            config["balancer"] + WEBHOOK_PREFIX + PATH_SECRET, secret_token=SECRET_TOKEN
        )
        ready.set()
        await asyncio.to_thread(go.wait)  # set to start the alerts, or (after stop) to end
        if not stop.is_set():
            await asyncio.gather(_raise(core, config["tag"]), _drain(app, stop))
    finally:
        await runner.cleanup()
        await app.bot.session.close()
        await core.close()


class _Hanging:
    """A recipient whose send never returns: the process is killed in the middle of it."""

    name = f"telegram:{ADMIN_CHAT}"

    def __init__(self, sending: Any) -> None:
        self._sending = sending

    async def send(self, text: str) -> None:
        self._sending.set()
        await asyncio.Event().wait()


async def _hang(url: str, when: str, sending: Any) -> None:
    settings = worker_settings("http://127.0.0.1:9", "http://127.0.0.1:9", 8443, generate_key())
    core = AccessCore(SqlStore(url), settings.core(), ManualClock(datetime.fromisoformat(when)))
    await core.start()
    await core.dispatcher([_Hanging(sending)]).deliver_due()


def claim_and_hang(url: str, when: str, sending: Any) -> None:
    """Entry point for ``multiprocessing``: claim what is due, then hang in the send."""
    asyncio.run(_hang(url, when, sending))


def serve(config: dict[str, Any], ready: Any, go: Any, stop: Any) -> None:
    """Entry point for ``multiprocessing``: run one replica until ``stop`` is set."""
    asyncio.run(_run(config, ready, go, stop))
