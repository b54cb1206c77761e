"""``hostwarden bot`` and ``web`` run the front ends; ``sandbox`` is an offline Telegram."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

from hostwarden.cli.common import (
    ConfigOption,
    DatabaseOption,
    InsecureOption,
    fail,
    group,
    out,
    settings_for,
)
from hostwarden.errors import HostwardenError, Unavailable
from hostwarden.signals import stop_on_signals

if TYPE_CHECKING:
    from hostwarden.config import Settings
    from hostwarden.core.policy import Policy
    from hostwarden.core.service import AccessCore

sandbox = group("An offline Telegram (local Bot API server) to try the bot on.")

#: The exit status when something needed at start stays unreachable (sysexits' EX_TEMPFAIL);
#: bad settings exit with 2, which the systemd unit does not restart.
TEMPORARY_FAILURE = 75

UrlOption = Annotated[str, typer.Option("--url", help="The sandbox's address.")]
DEFAULT_URL = "http://127.0.0.1:8081"


def run_front_end(
    settings: Settings,
    database: str | None,
    policy: Policy,
    library_loggers: tuple[str, ...],
    serve: Callable[[AccessCore, asyncio.Event], Awaitable[None]],
) -> None:
    """Open the core and ``serve`` until SIGINT or SIGTERM; errors become one line."""
    from hostwarden.runtime import configure_logging, open_core

    configure_logging(sys.stdout, logging.INFO, extra_loggers=library_loggers)

    async def main() -> None:
        stop = stop_on_signals()
        async with open_core(settings, database, policy=policy) as core:
            await serve(core, stop)

    from sqlalchemy.exc import InterfaceError, OperationalError

    try:
        asyncio.run(main())
    except Unavailable as exc:  # worth another start later (systemd: Restart=on-failure)
        fail(str(exc), TEMPORARY_FAILURE)
    except HostwardenError as exc:
        fail(str(exc))
    except (
        ConnectionError,
        TimeoutError,
        socket.gaierror,
        OperationalError,
        InterfaceError,
    ) as exc:
        # The database (PostgreSQL) not up yet, as at boot: also worth another start.
        reason = " ".join(str(exc).split())[:200]
        fail(f"the database is unreachable: {type(exc).__name__}: {reason}", TEMPORARY_FAILURE)


def run_bot(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Run the Telegram bot (polling or webhook, as configured) until Ctrl-C or SIGTERM."""
    from hostwarden.bot.actions import bot_policy
    from hostwarden.bot.app import BotApp

    settings = settings_for(config, allow_insecure_config)

    async def serve(core: AccessCore, stop: asyncio.Event) -> None:
        from hostwarden.runtime import freeze_startup_heap, reach_telegram

        app = BotApp(settings, core)
        # Telegram unreachable at start: retried with back-off here, before anything runs.
        polling = settings.telegram.mode == "polling"
        try:
            reached = await reach_telegram(app.bot, stop, leave_webhook=polling)
        except BaseException:
            await app.bot.session.close()
            raise
        if reached:
            freeze_startup_heap()
            await app.run(stop)  # closes the bot's session when it ends
        else:
            await app.bot.session.close()

    run_front_end(settings, database, bot_policy(), ("aiogram",), serve)


@sandbox.command("serve")
def serve_sandbox(
    token: Annotated[
        str,
        typer.Option(
            "--token", help="The bot token it accepts.", envvar="HOSTWARDEN_SANDBOX_TOKEN"
        ),
    ],
    port: Annotated[int, typer.Option("--port")] = 8081,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
) -> None:
    """Serve the sandbox until Ctrl-C; point telegram.api_base at it."""
    from hostwarden.sandbox.server import serve

    async def main() -> None:
        async with serve(token, host, port) as running:
            out.print(
                f"sandbox Bot API at {running.url} (set telegram.api_base to it)", markup=False
            )
            await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        pass


def _print(events: list[dict[str, object]]) -> None:
    for event in events:
        if event["kind"] in ("deleted", "answered"):
            continue
        text = html.unescape(re.sub(r"<[^>]+>", "", str(event["text"])))
        out.print(f"[{event['message_id']}] {text}", markup=False)
        for row in event.get("buttons") or []:  # type: ignore[attr-defined]
            out.print(
                "   " + "  ".join(f"[{b.split('|', 1)[0]} → {b.split('|', 1)[1]}]" for b in row),
                markup=False,
            )


@sandbox.command("say")
def say(
    text: Annotated[str, typer.Argument(help="What to send, e.g. /status.")],
    as_user: Annotated[int, typer.Option("--as", help="The Telegram user ID to act as.")],
    url: UrlOption = DEFAULT_URL,
    username: Annotated[str | None, typer.Option("--username")] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for an answer.")] = 5.0,
) -> None:
    """Send a message as any user and print the bot's answer."""
    from hostwarden.sandbox.client import SandboxClient

    async def main() -> list[dict[str, object]]:
        async with SandboxClient(url) as chat:
            user = {"username": username} if username else {}
            return await chat.converse(as_user, text, count=1, wait=wait, **user)

    try:
        events = asyncio.run(main())
    except HostwardenError as exc:
        fail(str(exc))
    if not events:
        out.print("(no answer)")
    _print(events)


@sandbox.command("press")
def press(
    message_id: Annotated[int, typer.Argument(help="The message whose button to press.")],
    data: Annotated[str, typer.Argument(help="The button's data (shown after →).")],
    as_user: Annotated[int, typer.Option("--as", help="The Telegram user ID to act as.")],
    url: UrlOption = DEFAULT_URL,
    wait: Annotated[float, typer.Option("--wait")] = 5.0,
) -> None:
    """Press an inline button as any user and print what the bot did."""
    from hostwarden.sandbox.client import SandboxClient

    async def main() -> list[dict[str, object]]:
        async with SandboxClient(url) as chat:
            seq = await chat.press(as_user, message_id, data)
            return await chat.events(seq, as_user, count=2, wait=wait)

    try:
        events = asyncio.run(main())
    except HostwardenError as exc:
        fail(str(exc))
    _print(events)


def run_web(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
    host: Annotated[str | None, typer.Option("--host", help="Overrides web.host.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Overrides web.port.")] = None,
) -> None:
    """Run the web admin console (default http(s)://127.0.0.1:8080) until Ctrl-C or SIGTERM.

    ``--host`` and ``--port`` are checked like the config's values (plain HTTP stays on
    loopback), and the port is bound before the core opens: a refusal is one line, exit 2.
    """
    from hostwarden.bot.actions import bot_policy
    from hostwarden.web.actions import web_policy
    from hostwarden.web.server import listen, make_server, serve_until

    settings = settings_for(config, allow_insecure_config)
    try:
        web = settings.web.listening_on(host, port)
        sock = listen(web.host, web.port)
    except HostwardenError as exc:
        fail(str(exc))
    settings = settings.model_copy(update={"web": web})

    async def serve(core: AccessCore, stop: asyncio.Event) -> None:
        from hostwarden.fleet.hubside import HubAgents
        from hostwarden.web.services import ConsoleServices

        services = ConsoleServices.build(settings)
        server = make_server(core, settings, services=services)
        # The console acts on enrolled agents too; the bot, not the console, polls their alerts.
        agents = HubAgents(
            services.hosts, core, settings.storage.data_dir, poll=False,
            overview=services.host_overview(core.clock), settings=settings.fleet,
        )  # fmt: skip
        out.print(f"console on {web.host}:{sock.getsockname()[1]}", markup=False)
        syncing = asyncio.create_task(agents.run(stop))
        try:
            await serve_until(server, stop, sock)
        finally:
            stop.set()
            await syncing
            await services.close()

    try:
        run_front_end(settings, database, web_policy(bot_policy()), ("uvicorn",), serve)
    finally:
        sock.close()
