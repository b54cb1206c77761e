"""Webhook mode: Telegram (the sandbox) posts to a secret path with the secret-token header."""

from __future__ import annotations

import asyncio
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
from tests.pgserver import free_port

PATH_SECRET = "p-" + "a" * 30
SECRET_TOKEN = "t-" + "b" * 30


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
                    allowed_networks=["127.0.0.0/8"],
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
                # Inside the allowed networks nothing is counted (it may be Telegram itself).
                for n in range(60):
                    async with http.post(hook, json=update) as response:
                        assert response.status == 401, (n, await response.text())
                assert await core.lockout.blocked(("ip:127.0.0.1",)) is None
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


def test_only_telegrams_networks_by_default() -> None:
    from hostwarden.bot.webhook_guard import TELEGRAM_NETWORKS
    from hostwarden.config import WebhookSettings

    assert WebhookSettings().allowed_networks == list(TELEGRAM_NETWORKS)


async def test_addresses_outside_the_allowed_networks_are_refused_and_end_blocked(
    clock: ManualClock,
) -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from hostwarden.bot.webhook_guard import webhook_guard
    from hostwarden.storage.memory import MemoryStore

    core = AccessCore(MemoryStore(), bot_settings().core(), clock, bot_policy())
    await core.start()
    guard = webhook_guard(core.lockout, "/webhook/p", "s", ["149.154.160.0/20"])

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="handled")

    class Peer:
        def __init__(self, ip: str) -> None:
            self.ip = ip

        def get_extra_info(self, name: str, default: object = None) -> object:
            return (self.ip, 443) if name == "peername" else default

    def request(ip: str) -> web.Request:
        headers = {"X-Telegram-Bot-Api-Secret-Token": "s"}
        return make_mocked_request("POST", "/webhook/p", headers=headers, transport=Peer(ip))

    assert (await guard(request("149.154.167.1"), handler)).text == "handled"  # type: ignore[attr-defined]
    for _ in range(60):
        assert (await guard(request("198.51.100.7"), handler)).status == 403
    assert await core.lockout.blocked(("ip:198.51.100.7",)) is not None
    await core.close()
