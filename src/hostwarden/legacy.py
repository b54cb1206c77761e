"""Reading databases made by seed 003's ``user_handler.py`` (SQLite, passlib PBKDF2 hashes)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from hostwarden.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class LegacyUser:
    """One row of the legacy ``users`` table."""

    username: str
    password_hash: str
    is_admin: bool
    locked: bool
    failed_attempts: int


def read_user_handler_db(path: Path) -> list[LegacyUser]:
    """The users of a legacy database, opened read-only."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(f"{path}: cannot open as SQLite ({exc})") from None
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
        needed = {"username", "password", "is_admin", "account_locked", "failed_login_attempts"}
        if not needed <= columns:
            raise InvalidInput(
                f"{path}: not a user_handler database (its users table lacks "
                f"{', '.join(sorted(needed - columns))})"
            )
        rows = conn.execute(
            "SELECT username, password, is_admin, account_locked, failed_login_attempts "
            "FROM users ORDER BY id"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc})") from None
    finally:
        conn.close()
    return [
        LegacyUser(str(name), str(pw), bool(admin), bool(locked), int(failed or 0))
        for name, pw, admin, locked, failed in rows
    ]
