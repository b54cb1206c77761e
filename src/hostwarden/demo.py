"""``hostwarden demo``: the access-control core at work, offline, on an SQLite file.

It plays the seeds' scenario: a stranger writes to the bot and is blocked, a known user reads,
an admin must pass 2FA before managing containers, a password is guessed until the account is
blocked. Alerts are printed as the admin chat would receive them.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from pathlib import Path

import pyotp
from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel

from hostwarden.config import Settings, StorageSettings
from hostwarden.core.accounts import Accounts
from hostwarden.core.identity import Actor, Role
from hostwarden.core.secretbox import generate_key
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings, TotpSettings
from hostwarden.runtime import open_core
from hostwarden.storage.base import AuditQuery

console = Console(highlight=False)
STRANGER = Actor(telegram_id=987654321, username="curious_stranger", display_name="Mallory")
USER_ID, ADMIN_ID = 111111111, 222222222


class ConsoleChat:
    """Shows alerts as the admin chat would get them."""

    async def send(self, text: str) -> None:
        console.print(
            Panel(text.replace("<b>", "[bold]").replace("</b>", "[/bold]"), title="admin chat")
        )


async def _scenario(core: AccessCore) -> None:
    chat = core.dispatcher([ConsoleChat()])
    guard = core.guard
    console.rule("1. A stranger writes to the bot")
    for n in range(4):
        decision = await guard.decide(STRANGER, "host.view")
        console.print(f"message {n + 1}: {decision.verdict.value} ({decision.reason})")
        await chat.deliver_due()

    console.rule("2. A known user asks for host status")
    user = Actor(telegram_id=USER_ID)
    console.print(f"host.view: {(await guard.decide(user, 'host.view')).verdict.value}")
    console.print(
        f"containers.manage: {(await guard.decide(user, 'containers.manage')).verdict.value}"
    )

    console.rule("3. An admin restarts a container: 2FA first")
    admin = Actor(telegram_id=ADMIN_ID)
    first = await guard.decide(admin, "containers.manage")
    console.print(f"before enrolment: {first.verdict.value}: {first.reply}")
    assert first.user is not None
    enrolment = await core.totp.begin_enrolment(first.user)
    totp = pyotp.TOTP(enrolment.secret)
    codes = await core.totp.confirm_enrolment(first.user, totp.now())
    console.print(f"enrolled; {len(codes)} recovery codes issued")
    console.print(f"now: {(await guard.decide(admin, 'containers.manage')).verdict.value}")
    wrong = "000000" if totp.now() != "000000" else "111111"
    console.print(f"wrong code: {(await guard.submit_totp(admin, wrong)).value}")
    replay = await guard.submit_totp(admin, totp.now())
    console.print(f"the enrolment code again: {replay.value} (a code works once)")
    await chat.deliver_due()

    console.rule("4. Someone guesses the web password")
    accounts: Accounts = core.accounts
    password = secrets.token_urlsafe(12)
    await accounts.register("webadmin", password, frozenset({Role.ADMIN}))
    for _ in range(5):
        result = await accounts.login("webadmin", "letmein123", "198.51.100.7", "curl/8")
        console.print(f"guess: {result.message}")
    right = await accounts.login("webadmin", password, "198.51.100.7", "curl/8")
    console.print(f"right password while blocked: {right.message}")
    await chat.deliver_due()

    console.rule("5. What the admin sees")
    for block in await core.lockout.list_blocks():
        console.print(f"blocked: {block.key[:5]}... until {block.until:%H:%M} UTC ({block.reason})")
    events = await core.audit.query(AuditQuery(limit=8))
    for event in reversed(events):
        console.print(f"audit: {event.kind}")


def run_demo(data_dir: Path | None, database: str | None = None) -> None:
    """Run the walkthrough; state goes to ``data_dir`` (a fresh temporary one by default)."""
    directory = data_dir or Path(tempfile.mkdtemp(prefix="hostwarden-demo-"))
    settings = Settings(
        storage=StorageSettings(data_dir=directory),
        access=AccessSettings(allowed_telegram_ids=[USER_ID], admin_telegram_ids=[ADMIN_ID]),
        totp=TotpSettings(encryption_key=SecretStr(generate_key())),
    )
    where = "the given database" if database else str(directory / "hostwarden.db")
    console.print(f"hostwarden demo: state in {where}")

    async def main() -> None:
        async with open_core(settings, database) as core:
            await _scenario(core)

    asyncio.run(main())
