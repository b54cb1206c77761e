"""``hostwarden blocks|sessions|audit ...``: what an admin inspects and lifts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from hostwarden.cli.common import (
    ConfigOption,
    DatabaseOption,
    InsecureOption,
    add_row,
    cli_actor,
    fail,
    out,
    run_with_core,
)
from hostwarden.core.service import AccessCore
from hostwarden.storage.base import AuditEvent, AuditQuery, Block, SessionRecord

blocks = typer.Typer(help="List and lift blocks.", no_args_is_help=True)
sessions = typer.Typer(help="List and revoke sessions.", no_args_is_help=True)
audit = typer.Typer(help="Read the audit trail.", no_args_is_help=True)


def _when(value: datetime | None, empty: str = "-") -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else empty


@blocks.command("list")
def list_blocks(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Blocks in force now."""

    async def action(core: AccessCore) -> list[Block]:
        return await core.lockout.list_blocks()

    table = Table("key", "since", "until", "reason", "level")
    for block in run_with_core(config, database, action, allow_insecure_config):
        until = _when(block.until, "until lifted")
        add_row(table, block.key, _when(block.created_at), until, block.reason, str(block.level))
    out.print(table)


@blocks.command("unblock")
def unblock(
    key: Annotated[str, typer.Argument(help="A Telegram ID, or tg:ID, user:NAME, ip:ADDRESS.")],
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Lift a block and forget its failed attempts."""
    run_with_core(
        config, database, lambda core: core.lockout.unblock(key, cli_actor()), allow_insecure_config
    )
    out.print(f"unblocked {key}", markup=False)


@sessions.command("list")
def list_sessions(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's sessions.")] = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Live sessions (by handle: the handle cannot be used to log in)."""

    async def action(core: AccessCore) -> tuple[list[SessionRecord], dict[int, str]]:
        names = {u.id: u.username for u in await core.store.users.list()}
        user_id = (await core.accounts.get(user)).id if user else None
        await core.sessions.clear_expired_sessions()
        return await core.sessions.list(user_id), names

    records, names = run_with_core(config, database, action, allow_insecure_config)
    table = Table("handle", "user", "created", "last seen", "ip", "2fa")
    for r in records:
        add_row(
            table,
            r.handle,
            names.get(r.user_id, str(r.user_id)),
            _when(r.created_at),
            _when(r.last_seen),
            r.ip or "-",
            _when(r.mfa_at, "no"),
        )
    out.print(table)


@sessions.command("revoke")
def revoke(
    handle: Annotated[
        str | None, typer.Argument(help="A session handle from `sessions list`.")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Revoke all of a user's.")] = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """End one session, or all of a user's."""
    if (handle is None) == (user is None):
        fail("give either a session handle or --user NAME")

    async def action(core: AccessCore) -> int:
        if user is not None:
            return await core.sessions.revoke_user((await core.accounts.get(user)).id, cli_actor())
        return await core.sessions.revoke(handle or "", cli_actor())

    count = run_with_core(config, database, action, allow_insecure_config)
    if count == 0 and handle is not None:
        fail(f"no session with handle {handle}")
    out.print(f"revoked {count} session(s)", markup=False)


@audit.command("tail")
def tail(
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, max=10_000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, full identities.")] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this event kind.")] = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """The newest audit events, oldest first."""

    async def action(core: AccessCore) -> list[AuditEvent]:
        return await core.audit.query(AuditQuery(kind=kind, limit=lines))

    events = list(reversed(run_with_core(config, database, action, allow_insecure_config)))
    if as_json:
        for e in events:
            record = {"id": e.id, "ts": e.at.isoformat(), "event": e.kind, "actor": e.actor}
            out.print(json.dumps({**record, "subject": e.subject, **e.detail}), markup=False)
        return
    table = Table("id", "time", "event", "actor", "subject", "detail")
    for e in events:
        detail = " ".join(f"{k}={v}" for k, v in e.detail.items())
        add_row(table, e.id, _when(e.at), e.kind, e.actor, e.subject, detail)
    out.print(table)
