"""``hostwarden demo``: the whole product offline: the bot, a sandboxed Telegram, SQLite.

It starts the sandbox (a local Bot API server), runs the real bot against it over HTTP, plays
the seeds' scenario as three users, and prints the chats. Then, on a terminal, it stays up so
you can chat as anyone, here or with ``hostwarden sandbox say --as ID TEXT``.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import secrets
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp
from hostwarden.config import Settings, StorageSettings, TelegramSettings
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.identity import Actor, Role
from hostwarden.core.secretbox import generate_key
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings, TotpSettings
from hostwarden.runtime import configure_logging, open_core
from hostwarden.sandbox.client import SandboxClient
from hostwarden.sandbox.server import serve
from hostwarden.web.actions import web_policy
from hostwarden.web.server import make_server, serve_until, wait_started
from hostwarden.web.settings import WebSettings

console = Console(highlight=False)
USER_ID, ADMIN_ID, STRANGER_ID = 1001, 1002, 987654321
NAMES = {USER_ID: "alice", ADMIN_ID: "admin", STRANGER_ID: "stranger"}
WAIT = 20.0


def plain(text: str) -> str:
    """Telegram HTML as terminal text."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def show(events: list[dict[str, Any]]) -> None:
    for event in events:
        who = NAMES.get(event["chat_id"], str(event["chat_id"]))
        if event["kind"] == "deleted":
            console.print(
                f"   [dim]bot deleted message {event['message_id']} in {who}'s chat[/dim]"
            )
            continue
        if event["kind"] == "answered":
            if event["text"]:
                console.print(f"   [dim]button answer to {who}: {event['text']}[/dim]")
            continue
        label = "bot (edited)" if event["kind"] == "edited" else "bot"
        media = f"[{event['media']}] " if event.get("media") else ""
        console.print(f"[green]{label} → {who}[/green]", markup=True)
        console.print("   " + (media + plain(event["text"])).replace("\n", "\n   "), markup=False)
        for row in event.get("buttons") or []:
            labels = "  ".join(f"[{b.split('|', 1)[0]}]" for b in row)
            console.print(f"   {labels}", markup=False)


async def say(
    chat: SandboxClient, user_id: int, text: str, count: int = 1, user: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    console.print(f"[cyan]{NAMES.get(user_id, user_id)} >[/cyan] {escape(text)}")
    seq = await chat.say(user_id, text, **(user or {}))
    events = await chat.events(seq, user_id, count, WAIT) if count else []
    show(events)
    return events


async def tour(chat: SandboxClient, secret: str) -> None:
    stranger = {"username": "curious_stranger", "first_name": "Mallory"}
    console.rule("1. A stranger finds the bot")
    await say(chat, STRANGER_ID, "/getmyid", user=stranger)
    seq = await chat.say(STRANGER_ID, "/status", **stranger)
    console.print("[cyan]stranger >[/cyan] /status   [dim](no answer: strangers get silence)[/dim]")
    await say(chat, STRANGER_ID, "/containers", count=0, user=stranger)
    show(await chat.events(seq, ADMIN_ID, 2, WAIT))

    console.rule("2. Alice, a user, reads the host")
    await say(chat, USER_ID, "/status")
    await say(chat, USER_ID, "/restart web")

    console.rule("3. The admin lifts the block: 2FA first")
    await say(chat, ADMIN_ID, "/blocked")
    totp = pyotp.TOTP(secret)
    wrong = "000000" if totp.now() != "000000" else "111111"
    await say(chat, ADMIN_ID, wrong, count=3)
    events = await say(chat, ADMIN_ID, totp.now(), count=3)
    listing = next((e for e in events if e.get("buttons")), None)
    if listing is not None:
        data = listing["buttons"][0][0].split("|", 1)[1]
        console.print("[cyan]admin >[/cyan] taps \\[Unblock 1]")
        seq = await chat.press(ADMIN_ID, listing["message_id"], data)
        show(await chat.events(seq, ADMIN_ID, 2, WAIT))

    console.rule("4. What happened, from the audit trail")
    await say(chat, ADMIN_ID, "/audit 12")


async def _web_admin(core: AccessCore) -> tuple[str, str]:
    """The admin's account for the console (the same user as the bot's admin), fresh password."""
    password = secrets.token_urlsafe(12)
    user = await core.store.users.by_telegram_id(ADMIN_ID)
    if user is None:
        user = await core.accounts.register(
            "admin", password, frozenset({Role.ADMIN, Role.USER}), (ADMIN_ID,), actor="demo"
        )
    else:
        await core.accounts.set_password(user.username, password, "demo")
    return user.username, password


async def _start_web(
    core: AccessCore, settings: Settings, stop: asyncio.Event
) -> tuple[asyncio.Task[None], str]:
    server = make_server(core, settings)
    task = asyncio.create_task(serve_until(server, stop))
    return task, f"http://127.0.0.1:{await wait_started(server, task)}"


async def _enrol_admin(core: AccessCore) -> str:
    admin = await core.directory.resolve(Actor(telegram_id=ADMIN_ID))
    assert admin is not None
    if await core.totp.is_enrolled(admin):
        await core.totp.reset(admin, "demo")
    enrolment = await core.totp.begin_enrolment(admin)
    # Confirm with the previous step's code (accepted within the skew) so that the current
    # code is still unused when the tour types it.
    previous = pyotp.TOTP(enrolment.secret).at(core.clock.now() - timedelta(seconds=30))
    await core.totp.confirm_enrolment(admin, previous)
    return enrolment.secret


async def chat_here(chat: SandboxClient, secret: str) -> None:
    """Read ``[@ID] text`` lines from the terminal and show the bot's answers."""
    current = USER_ID
    while True:
        try:
            line = (await asyncio.to_thread(input, f"{NAMES.get(current, current)}> ")).strip()
        except EOFError:
            return
        if line.startswith("@") and " " in line:
            who, line = line[1:].split(" ", 1)
            current = int(who) if who.isdigit() else current
        if line == "code":
            console.print(f"admin's current code: {pyotp.TOTP(secret).now()}")
        elif line:
            await say(chat, current, line)


def demo_settings(
    token: str, api_base: str, directory: Path, docker_url: str | None, web_port: int = 8080
) -> Settings:
    containers = ContainerSettings(docker_url=docker_url) if docker_url else ContainerSettings()
    return Settings(
        telegram=TelegramSettings(
            token=SecretStr(token),
            admin_chat_ids=[ADMIN_ID],
            api_base=api_base,
            alert_every_seconds=0.3,
        ),
        storage=StorageSettings(data_dir=directory),
        access=AccessSettings(allowed_telegram_ids=[USER_ID], admin_telegram_ids=[ADMIN_ID]),
        totp=TotpSettings(encryption_key=SecretStr(generate_key())),
        containers=containers,
        web=WebSettings(host="127.0.0.1", port=web_port, plain_http=True),
    )


async def run(
    directory: Path,
    database: str | None,
    port: int,
    stay: bool,
    docker_url: str | None,
    web_port: int = 8080,
) -> None:
    token = f"{secrets.randbelow(10**9) + 10**9}:{secrets.token_urlsafe(26)}"
    async with serve(token, port=port) as sandbox, SandboxClient(sandbox.url) as chat:
        settings = demo_settings(token, sandbox.url, directory, docker_url, web_port)
        async with open_core(settings, database, policy=web_policy(bot_policy())) as core:
            username, password = await _web_admin(core)
            secret = await _enrol_admin(core)
            await chat.register(USER_ID, "alice", "Alice")
            await chat.register(ADMIN_ID, "admin", "Admin")
            app = BotApp(settings, core)
            stop = asyncio.Event()
            running = asyncio.create_task(app.run(stop))
            web, url = await _start_web(core, settings, stop)
            try:
                await chat.events(0, ADMIN_ID, 1, WAIT)  # the enrolment alert
                await tour(chat, secret)
                console.rule("5. The web console")
                if not stay:  # everything stops now: no address or password to try
                    console.print(
                        "The console ran next to the bot and stops with the demo; run "
                        "`hostwarden demo --stay` to log in to it.",
                        markup=False,
                    )
                else:
                    console.print(
                        f"{url}  user {username}, password {password}; the 2FA code is the "
                        "admin's (type 'code' below)",
                        markup=False,
                    )
                if stay:
                    console.rule("Your turn")
                    console.print(
                        f"Chat as alice ({USER_ID}), admin ({ADMIN_ID}) or anyone: type a message, "
                        "'@ID text' to switch user, 'code' for the admin's 2FA code, "
                        "Ctrl-D to stop.\n"
                        f"From another terminal: hostwarden sandbox say --url {sandbox.url} "
                        f"--as {USER_ID} /status",
                        markup=False,
                    )
                    await chat_here(chat, secret)
            finally:
                stop.set()
                await asyncio.wait_for(running, 30)
                await asyncio.wait_for(web, 30)


def run_demo(
    data_dir: Path | None,
    database: str | None = None,
    port: int = 8081,
    stay: bool | None = None,
    docker_url: str | None = None,
    web_port: int = 8080,
) -> None:
    """Run the demo; state goes to ``data_dir`` (a fresh temporary one by default)."""
    directory = data_dir or Path(tempfile.mkdtemp(prefix="hostwarden-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    where = "the given database" if database else str(directory / "hostwarden.db")
    log = directory / "hostwarden.log"
    console.print(f"hostwarden demo: the bot, an offline Telegram, state in {where}", markup=False)
    console.print(f"structured logs (JSON lines) go to {log}", markup=False)
    with log.open("a", encoding="utf-8") as stream:
        configure_logging(stream, logging.INFO, extra_loggers=("aiogram",))
        stay = sys.stdin.isatty() if stay is None else stay
        asyncio.run(run(directory, database, port, stay, docker_url, web_port))
