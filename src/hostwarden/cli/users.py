"""``hostwarden users ...``: accounts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
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
    guarded,
    out,
    read_password,
    run_with_core,
)
from hostwarden.core.identity import Role, User, check_username
from hostwarden.errors import Conflict

if TYPE_CHECKING:
    from hostwarden.core.service import AccessCore

app = group("Manage accounts.")


@app.command("add")
def add(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="Grant the admin role.")] = False,
    telegram_id: Annotated[
        list[int] | None, typer.Option("--telegram-id", help="A Telegram user ID (repeatable).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    ask_password: Annotated[
        bool, typer.Option("--password", help="Ask for a password at a hidden prompt.")
    ] = False,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Add a user (role user, or admin with --admin).

    Without --password or --password-stdin the user has no password: Telegram only.
    """
    guarded(check_username, name)
    if not (password_stdin or ask_password or telegram_id):
        fail("give --telegram-id, --password or --password-stdin: the user needs a way in")
    wants_password = password_stdin or ask_password
    password = read_password(password_stdin) if wants_password else None
    roles = frozenset({Role.ADMIN, Role.USER}) if admin else frozenset({Role.USER})

    async def action(core: AccessCore) -> User:
        return await core.accounts.register(
            name, password, roles, tuple(telegram_id or ()), cli_actor()
        )

    user = run_with_core(config, database, action, allow_insecure_config)
    out.print(
        f"added {user.username} (id {user.id}, roles {', '.join(sorted(roles))})", markup=False
    )


def _row(user: User, enrolled: bool) -> dict[str, object]:
    return {
        "id": user.id,
        "username": user.username,
        "roles": sorted(r.value for r in user.roles),
        "telegram_ids": list(user.telegram_ids),
        "password": user.password_hash is not None,
        "totp": enrolled,
        "locked": user.locked,
    }


@app.command("list")
def list_users(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """List users."""

    async def action(core: AccessCore) -> list[tuple[User, bool]]:
        return [(u, await core.totp.is_enrolled(u)) for u in await core.store.users.list()]

    users = run_with_core(config, database, action, allow_insecure_config)
    if as_json:
        out.print(json.dumps([_row(user, enrolled) for user, enrolled in users]), markup=False)
        return
    table = Table("id", "username", "roles", "telegram ids", "password", "2fa", "locked")
    for user, enrolled in users:
        add_row(
            table,
            user.id,
            user.username,
            ",".join(sorted(r.value for r in user.roles)),
            ",".join(str(i) for i in user.telegram_ids),
            "yes" if user.password_hash else "no",
            "yes" if enrolled else "no",
            "LOCKED" if user.locked else "",
        )
    out.print(table)


@app.command("lock")
def lock(
    name: str,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Lock an account and end its sessions."""
    run_with_core(
        config, database, lambda core: core.accounts.lock(name, cli_actor()), allow_insecure_config
    )
    out.print(f"locked {name}", markup=False)


@app.command("unlock")
def unlock(
    name: str,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Unlock an account and clear its failed attempts and blocks."""
    run_with_core(
        config,
        database,
        lambda core: core.accounts.unlock(name, cli_actor()),
        allow_insecure_config,
    )
    out.print(f"unlocked {name}", markup=False)


@app.command("roles")
def roles(
    name: str,
    admin: Annotated[
        bool,
        typer.Option("--admin/--no-admin", help="Grant or take away the admin role."),
    ],
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Make a user an admin (--admin) or a plain user (--no-admin); audited."""
    wanted = frozenset({Role.ADMIN, Role.USER}) if admin else frozenset({Role.USER})

    async def action(core: AccessCore) -> User:
        user = await core.accounts.get(name)
        return await core.accounts.update(user, cli_actor(), roles=wanted)

    user = run_with_core(config, database, action, allow_insecure_config)
    names = ", ".join(sorted(r.value for r in user.roles))
    out.print(f"{user.username} now has roles {names}", markup=False)


def _interactive() -> bool:
    """Whether a person can answer a question on standard input."""
    return sys.stdin.isatty()


@app.command("remove")
def remove(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Remove it even if it is the last admin account.")
    ] = False,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Delete a user with its Telegram IDs, sessions and second factor; audited.

    The last admin account is kept unless --force is given.
    """
    if not yes:
        if not _interactive():
            fail(f"not removing {name} without confirmation: add --yes")
        if not typer.confirm(f"Remove user {name} and its sessions and second factor?"):
            fail(f"kept {name}", code=1)

    async def action(core: AccessCore) -> User:
        try:
            return await core.accounts.remove(name, cli_actor(), force)
        except Conflict as exc:
            raise Conflict(f"{exc} (add --force to remove it anyway)") from None

    user = run_with_core(config, database, action, allow_insecure_config)
    out.print(f"removed {user.username} (id {user.id})", markup=False)


@app.command("passwd")
def passwd(
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Set a new password; the user's sessions end."""
    password = read_password(password_stdin)
    run_with_core(
        config,
        database,
        lambda core: core.accounts.set_password(name, password, cli_actor()),
        allow_insecure_config,
    )
    out.print(f"password changed for {name}", markup=False)


@app.command("import-user-handler")
def import_user_handler(
    path: Path,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Import users from a database made by user_handler.py; they keep their passwords."""
    from hostwarden.core.audit import Kind
    from hostwarden.legacy import read_user_handler_db

    legacy = guarded(read_user_handler_db, path)

    async def action(core: AccessCore) -> tuple[int, list[str]]:
        imported, skipped = 0, []
        for row in legacy:
            roles = frozenset({Role.ADMIN, Role.USER}) if row.is_admin else frozenset({Role.USER})
            try:
                check_username(row.username)
                await core.store.users.create(
                    User(
                        0, row.username, (), roles, row.password_hash, row.locked, core.clock.now()
                    )
                )
            except Conflict:
                skipped.append(f"{row.username} (exists)")
                continue
            except Exception as exc:  # one bad row must not stop the rest
                skipped.append(f"{row.username[:64]} ({exc})")
                continue
            imported += 1
            await core.audit.record(
                Kind.ACCOUNT_CREATED,
                actor=cli_actor(),
                subject=f"user:{row.username}",
                source="user_handler",
                failed_attempts=row.failed_attempts,
            )
        return imported, skipped

    imported, skipped = run_with_core(config, database, action, allow_insecure_config)
    out.print(f"imported {imported} of {len(legacy)} users", markup=False)
    for line in skipped:
        out.print(f"skipped {line}", markup=False)
