"""``hostwarden blocks|sessions|audit ...``: what an admin inspects and lifts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from hostwarden.cli.common import (
    ConfigOption,
    DatabaseOption,
    InsecureOption,
    add_row,
    cli_actor,
    fail,
    group,
    out,
    run_with_core,
)

if TYPE_CHECKING:
    from hostwarden.core.service import AccessCore
    from hostwarden.storage.base import AuditEvent, Block, SessionRecord

blocks = group("List and lift blocks.")
sessions = group("List and revoke sessions.")
audit = group("Read the audit trail.")


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


def _line(event: AuditEvent, as_json: bool) -> str:
    if as_json:
        record = {"id": event.id, "ts": event.at.isoformat(), "event": event.kind}
        record |= {"actor": event.actor, "subject": event.subject}
        return json.dumps({**record, **event.detail})
    detail = " ".join(f"{k}={v}" for k, v in event.detail.items())
    return f"{event.id} {_when(event.at)} {event.kind} {event.actor} {event.subject} {detail}"


@audit.command("tail")
def tail(
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, max=10_000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, full identities.")] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this event kind.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, max=3600, help="Seconds between checks.")
    ] = 1.0,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """The newest audit events, oldest first; with --follow, then each new one as it comes."""
    from hostwarden.storage.base import AuditQuery

    async def action(core: AccessCore) -> list[AuditEvent]:
        return await core.audit.query(AuditQuery(kind=kind, limit=lines))

    events = list(reversed(run_with_core(config, database, action, allow_insecure_config)))
    if follow:
        _follow(events, as_json, kind, interval, config, database, allow_insecure_config)
        return
    if as_json:
        for e in events:
            out.print(_line(e, True), markup=False)
        return
    table = Table("id", "time", "event", "actor", "subject", "detail")
    for e in events:
        detail = " ".join(f"{k}={v}" for k, v in e.detail.items())
        add_row(table, e.id, _when(e.at), e.kind, e.actor, e.subject, detail)
    out.print(table)


def _follow(
    events: list[AuditEvent],
    as_json: bool,
    kind: str | None,
    interval: float,
    config: ConfigOption,
    database: DatabaseOption,
    allow_insecure_config: bool,
) -> None:
    """Print ``events`` one per line, then every newer one until Ctrl-C (exit 0)."""
    import asyncio

    from hostwarden.cli.follow import follow

    def emit(event: AuditEvent) -> None:
        out.print(_line(event, as_json), markup=False)

    for event in events:
        emit(event)
    last = events[-1].id if events else 0

    async def action(core: AccessCore) -> None:
        await follow(core, last, kind, emit, asyncio.sleep, interval)

    try:
        run_with_core(config, database, action, allow_insecure_config)
    except KeyboardInterrupt:
        return
