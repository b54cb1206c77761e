"""The hub of the end-to-end fleet test, in this process, on one SQLite file and one manual clock.

The bot runs as ``hostwarden bot`` would (:meth:`BotApp.run`, long polling the Telegram sandbox
over HTTP) and the console as ``hostwarden web`` would (uvicorn on loopback, so that agents'
``hostwarden agent enroll`` reaches ``POST /fleet/enroll``), each with its own core on the same
store, as two processes would. Nothing here runs by a timer the test does not drive: the fleet
rounds (:meth:`Hub.round`) and alert deliveries (:meth:`Hub.admin_chat`) are called by the test;
the bot's own loops are set to an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyotp
from pydantic import SecretStr

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp
from hostwarden.config import Settings, StorageSettings, TelegramSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor, Role
from hostwarden.core.service import AccessCore
from hostwarden.fleet.hubside import HubAgents
from hostwarden.host.thresholds import MonitorSettings
from hostwarden.sandbox.client import SandboxClient
from hostwarden.sandbox.server import serve
from hostwarden.storage.sql import SqlStore
from hostwarden.web.actions import web_policy
from hostwarden.web.app import create_app
from hostwarden.web.server import listen, make_server, serve_until
from hostwarden.web.services import ConsoleServices
from tests.bot.conftest import ADMIN_ID, bot_settings
from tests.bot.fakes import TOKEN
from tests.web.conftest import ADMIN, ADMIN_PASSWORD, UA, Console

#: Longer than the whole test: the bot's own timers never fire after their first turn.
NEVER = 3600


@dataclass
class Hub:
    """The running hub: its bot, its console and what the test talks to them with."""

    data: Path
    clock: ManualClock
    bot: BotApp
    chat: SandboxClient
    bot_secret: str
    console: Console
    console_agents: HubAgents
    console_url: str

    def bot_code(self) -> str:
        """The bot admin's next TOTP code (a new 30-second step)."""
        self.clock.advance(30)
        return pyotp.TOTP(self.bot_secret).at(self.clock.now())

    async def round(self) -> None:
        """One fleet round of each front end: the bot's polls the feeds, the console's syncs."""
        await self.bot.agents.round()
        await self.console_agents.round()

    async def admin_chat(self, after: int) -> list[str]:
        """Deliver what is due and return every message the admin chat got after ``after``."""
        await self.bot.deliver_alerts()
        events = await self.chat.events(after, ADMIN_ID)
        return [event["text"] for event in events if event["kind"] == "sent"]

    async def last_seq(self) -> int:
        """Where the sandbox's transcript stands now."""
        events = await self.chat.events(0)
        return max((int(event["seq"]) for event in events), default=0)

    async def said(self, after: int, text: str, kind: str = "") -> dict[str, Any]:
        """The first message or edit (only ``kind``, if given) holding ``text`` in the admin's
        chat after ``after``, waiting on the sandbox's long poll for each further one."""
        count = 1
        while True:
            events = await self.chat.events(after, ADMIN_ID, count=count, wait=30)
            for event in events:
                if text in event.get("text", "") and kind in ("", event["kind"]):
                    return event
            if len(events) < count:
                raise AssertionError(f"the bot never said {text!r}: {events}")
            count = len(events) + 1

    async def restart_from_the_bot(self, target: str) -> tuple[str, str]:
        """``/restart TARGET``, a fresh 2FA code, the confirmation press: (question, outcome)."""
        self.clock.advance(601)  # any earlier code is stale: this action asks for its own
        [prompt] = await self.chat.converse(ADMIN_ID, f"/restart {target}")
        assert "needs your 2FA code" in prompt["text"], prompt
        seq = await self.chat.say(ADMIN_ID, self.bot_code())
        question = await self.said(seq, "Restart container")
        [ok] = [b.split("|", 1)[1] for row in question["buttons"] for b in row if "|ok:" in b]
        seq = await self.chat.press(ADMIN_ID, question["message_id"], ok)
        done = await self.said(seq, "", "edited")  # the question becomes the outcome
        assert done["message_id"] == question["message_id"]
        return question["text"], done["text"]


def hub_settings(data: Path, api_base: str) -> Settings:
    """The bot's test settings with the sandbox, the admin's chat for alerts and ``data``."""
    return bot_settings(
        telegram=TelegramSettings(
            token=SecretStr(TOKEN),
            admin_chat_ids=[ADMIN_ID],
            api_base=api_base,
            alert_every_seconds=NEVER,
        ),
        monitor=MonitorSettings(enabled=False, host_label="hub"),
        storage=StorageSettings(data_dir=data),
    )


async def _enrol_totp(core: AccessCore, actor: Actor | None, clock: ManualClock) -> str:
    """A confirmed second factor for the bot's admin (``actor``) or the console's ``root``."""
    if actor is None:
        roles = frozenset({Role.ADMIN, Role.USER})
        user = await core.accounts.register(ADMIN, ADMIN_PASSWORD, roles)
    else:
        found = await core.directory.resolve(actor)
        assert found is not None
        user = found
    enrolment = await core.totp.begin_enrolment(user)
    await core.totp.confirm_enrolment(user, pyotp.TOTP(enrolment.secret).at(clock.now()))
    return enrolment.secret


@contextlib.asynccontextmanager
async def running_hub(data: Path) -> AsyncIterator[Hub]:
    """The bot and the console over ``data/hostwarden.db`` until the block ends."""
    # TLS checks certificates against the real clock, and the hub signs them by this one.
    clock = ManualClock(datetime.now(UTC))
    await asyncio.to_thread(data.mkdir, mode=0o700)
    database = str(data / "hostwarden.db")
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(serve(TOKEN))
        chat = await stack.enter_async_context(SandboxClient(sandbox.url))
        settings = hub_settings(data, sandbox.url)
        bot_core = AccessCore(SqlStore(database), settings.core(), clock, bot_policy())
        await bot_core.start()
        stack.push_async_callback(bot_core.close)
        web_core = AccessCore(SqlStore(database), settings.core(), clock, web_policy(bot_policy()))
        await web_core.start()
        stack.push_async_callback(web_core.close)
        bot_secret = await _enrol_totp(bot_core, Actor(telegram_id=ADMIN_ID), clock)
        web_secret = await _enrol_totp(web_core, None, clock)
        await chat.register(ADMIN_ID, first_name="Admin")

        stop = asyncio.Event()
        bot = BotApp(settings, bot_core)
        bot.agents.interval = NEVER
        running = asyncio.create_task(bot.run(stop))
        stack.push_async_callback(asyncio.wait_for, running, 30)
        stack.callback(stop.set)

        services = ConsoleServices.build(settings)
        stack.push_async_callback(services.close)
        sock = listen("127.0.0.1", 0)
        port = sock.getsockname()[1]
        server = make_server(web_core, settings, "127.0.0.1", port, services)
        serving = asyncio.create_task(serve_until(server, stop, sock))  # it listens already
        stack.push_async_callback(asyncio.wait_for, serving, 30)
        stack.callback(stop.set)
        console_agents = HubAgents(
            services.hosts, web_core, data, poll=False, overview=services.host_overview(clock)
        )

        transport = httpx.ASGITransport(
            app=create_app(web_core, settings, services), client=("203.0.113.5", 40000)
        )
        client = httpx.AsyncClient(
            transport=transport, base_url="https://testserver", headers={"user-agent": UA}
        )
        stack.push_async_callback(client.aclose)
        console = Console(client, web_core, clock)
        console.secrets[ADMIN] = web_secret
        hub = Hub(
            data, clock, bot, chat, bot_secret, console, console_agents, f"http://127.0.0.1:{port}"
        )
        try:
            yield hub
        finally:
            if console_agents.roster is not None:
                await console_agents.roster.close()
            if bot.agents.roster is not None:
                await bot.agents.roster.close()
