"""Seed 003's example scenario, run against hostwarden.user_handler.

    uv run python examples/user_handler_demo.py [DATABASE]

DATABASE is an SQLite path (default: a temporary file) or a SQLAlchemy URL.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from hostwarden.user_handler import Database, UserHandler


def main(database: str) -> list[str]:
    """Run the scenario; returns the lines it printed."""
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(text)
        print(text)

    db = Database(database)
    db.setup_tables()
    handler = UserHandler(db, max_failed_attempts=5)
    request = {"ip_address": "192.168.1.10", "user_agent": "Mozilla/5.0"}

    say(f"register alice: {handler.register('alice', 'alice-password-1')}")
    say(f"register admin: {handler.register('admin', 'admin-password-1', is_admin=True)}")

    say(f"login alice: {handler.login('alice', 'alice-password-1', request)}")
    say(f"logged in: {handler.is_logged_in()}, admin: {handler.is_admin()}")
    say(f"session valid here: {handler.validate_session(request)}")
    say(f"logout: {handler.logout()}, logged in: {handler.is_logged_in()}")

    say(f"login admin: {handler.login('admin', 'admin-password-1', request)}")
    say(f"admin: {handler.is_admin()}")
    moved = {"ip_address": "10.9.9.9", "user_agent": "curl/8"}
    say(f"session valid from another address: {handler.validate_session(moved)}")

    results = [handler.login("alice", "wrong-password", request) for _ in range(6)]
    say(f"six wrong passwords: {results}")
    say(f"right password while locked: {handler.login('alice', 'alice-password-1', request)}")
    say(f"reset: {handler.reset_failed_attempts('alice')}")
    say(f"login after reset: {handler.login('alice', 'alice-password-1', request)}")
    db.close()
    return lines


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else str(Path(tempfile.mkdtemp()) / "users.db")
    main(target)
