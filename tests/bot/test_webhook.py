"""Webhook mode: Telegram (the sandbox) posts to a secret path with the secret-token header."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
from pydantic import SecretStr

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import WEBHOOK_PREFIX, BotApp
from hostwarden.config import TelegramSettings, WebhookSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.sandbox.client import SandboxClient
from hostwarden.sandbox.server import serve
from hostwarden.storage.sql import SqlStore
from tests.bot.conftest import USER_ID, bot_settings
from tests.bot.fakes import TOKEN

PATH_SECRET = "p-" + "a" * 30
SECRET_TOKEN = "t-" + "b" * 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_serves_updates_and_refuses_everything_else(
    tmp_path: Path, clock: ManualClock
) -> None:
    port = free_port()
    async with serve(TOKEN) as sandbox, SandboxClient(sandbox.url) as chat:
        settings = bot_settings(
            telegram=TelegramSettings(
                token=SecretStr(TOKEN),
                api_base=sandbox.url,
                mode="webhook",
                webhook=WebhookSettings(
                    url=f"http://127.0.0.1:{port}",
                    path_secret=SecretStr(PATH_SECRET),
                    secret_token=SecretStr(SECRET_TOKEN),
                    listen_port=port,
                ),
            )
        )
        core = AccessCore(SqlStore(str(tmp_path / "hook.db")), settings.core(), clock, bot_policy())
        await core.start()
        await chat.register(USER_ID)
        stop = asyncio.Event()
        running = asyncio.create_task(BotApp(settings, core).run(stop))
        try:
            # The sandbox refuses getUpdates while a webhook is set, so an answer proves delivery.
            [status] = await chat.converse(USER_ID, "/uptime", wait=20)
            assert "Uptime" in status["text"]
            assert sandbox.state.webhook is not None
            assert sandbox.state.webhook["url"].endswith(WEBHOOK_PREFIX + PATH_SECRET)

            hook = f"http://127.0.0.1:{port}{WEBHOOK_PREFIX}{PATH_SECRET}"
            update = {
                "update_id": 999,
                "message": {
                    "message_id": 1,
                    "date": 1,
                    "chat": {"id": 5, "type": "private"},
                    "from": {"id": 5, "is_bot": False, "first_name": "x"},
                    "text": "/status",
                },
            }
            async with aiohttp.ClientSession() as http:
                async with http.post(hook, json=update) as response:
                    assert response.status == 401  # no secret-token header
                headers = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
                async with http.post(hook, json=update, headers=headers) as response:
                    assert response.status == 401
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET_TOKEN}
                async with http.post(
                    f"http://127.0.0.1:{port}/webhook/guess", json=update, headers=headers
                ) as response:
                    assert response.status == 404
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
            await core.close()


def test_webhook_mode_needs_its_secrets(tmp_path: Path) -> None:
    import pytest

    from hostwarden.config import load_settings
    from hostwarden.errors import ConfigError

    path = tmp_path / "hostwarden.yaml"
    path.write_text("telegram:\n  mode: webhook\n  webhook:\n    url: https://bot.example.org\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "webhook mode needs webhook.url, webhook.path_secret and webhook.secret_token" in str(
        caught.value
    )
