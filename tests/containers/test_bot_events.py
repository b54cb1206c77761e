"""The running bot follows the real engine's events: a failing container reaches the admin chat.

BotApp.run wires the follower next to the monitor (monitor.enabled and watch_containers); the
alert travels the outbox and the sandboxed Telegram, names the host, and stop ends it all
promptly. Other podman users on the machine share the event stream, so alerts are not folded
into digests here and only this test's container is looked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

import docker
import docker.errors
from pydantic import SecretStr

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp
from hostwarden.config import TelegramSettings
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AlertSettings
from hostwarden.host.thresholds import MonitorSettings
from hostwarden.sandbox.client import SandboxClient
from hostwarden.sandbox.server import serve
from hostwarden.storage.memory import MemoryStore
from tests.bot.conftest import ADMIN_CHAT, bot_settings
from tests.bot.fakes import TOKEN
from tests.containers.podman import IMAGE, PodmanService

QUIET = {"cpu_percent": 100, "memory_percent": 100, "disk_percent": 100}


async def test_the_bot_alerts_a_failing_container_and_stops_promptly(
    podman: PodmanService, engine_client: docker.DockerClient, clock: ManualClock
) -> None:
    name = f"hwbot-ev-{secrets.token_hex(4)}"
    async with serve(TOKEN) as sandbox, SandboxClient(sandbox.url) as chat:
        settings = bot_settings(
            telegram=TelegramSettings(
                token=SecretStr(TOKEN),
                admin_chat_ids=[ADMIN_CHAT],
                api_base=sandbox.url,
                alert_every_seconds=0.1,
            ),
            containers=ContainerSettings(docker_url=podman.url, timeout_seconds=30),
            monitor=MonitorSettings(host_label="edge-01", temperature_celsius=200, **QUIET),
            alerts=AlertSettings(digest_above_per_minute=1_000_000),
        )
        core = AccessCore(MemoryStore(), settings.core(), clock, bot_policy())
        await core.start()
        await chat.register(ADMIN_CHAT)
        app = BotApp(settings, core)
        stop = asyncio.Event()
        running = asyncio.create_task(app.run(stop))
        try:
            await asyncio.wait_for(app.events.streaming.wait(), 30)
            await asyncio.to_thread(
                engine_client.containers.run, IMAGE, ["sh", "-c", "exit 1"], name=name, detach=True
            )
            ours: list[str] = []
            deadline = time.monotonic() + 60
            while not ours and time.monotonic() < deadline:
                found = await chat.events(0, ADMIN_CHAT, count=1_000, wait=1)
                ours = [e["text"] for e in found if name in e["text"]]
            assert len(ours) == 1
            assert ours[0].startswith(f"<b>Container {name} exited</b>\nHost: edge-01\n")
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)  # the blocked event stream is closed at once
            await core.close()
            with contextlib.suppress(docker.errors.NotFound):
                await asyncio.to_thread(engine_client.api.remove_container, name, force=True)
