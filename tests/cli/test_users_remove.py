"""``hostwarden users remove``: confirmation, the last admin, one-line errors, the audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hostwarden.cli import users as users_cli
from hostwarden.cli.app import app

runner = CliRunner()


def hw(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "remove.db")
    assert hw("users", "add", "alice", "--admin", "--telegram-id", "11", "-d", path)[0] == 0
    assert hw("users", "add", "bob", "--telegram-id", "22", "-d", path)[0] == 0
    return path


def names(db: str) -> list[str]:
    return [row["username"] for row in json.loads(hw("users", "list", "--json", "-d", db)[1])]


def removals(db: str) -> list[dict[str, object]]:
    _, out, _ = hw("audit", "tail", "--json", "--kind", "account.removed", "-d", db)
    return [json.loads(line) for line in out.splitlines()]


def test_remove_with_yes_deletes_the_user_and_audits_it(db: str) -> None:
    code, out, _ = hw("users", "remove", "bob", "--yes", "-d", db)
    assert code == 0 and out.strip().startswith("removed bob (id ")
    assert names(db) == ["alice"]
    [event] = removals(db)
    assert event["subject"] == "user:bob"
    assert event["roles"] == ["user"] and event["forced"] is False
    assert str(event["actor"]).startswith("cli:")
    # Its Telegram ID is free for someone else.
    assert hw("users", "add", "carl", "--telegram-id", "22", "-d", db)[0] == 0


def test_an_unknown_user_is_one_line_and_a_failure(db: str) -> None:
    code, out, err = hw("users", "remove", "nobody", "--yes", "-d", db)
    assert code == 2 and out == ""
    assert err.strip() == "error: no user 'nobody'"
    assert removals(db) == []


def test_the_last_admin_is_kept_unless_forced(db: str) -> None:
    code, _, err = hw("users", "remove", "alice", "--yes", "-d", db)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "last admin" in err and "--force" in err
    assert names(db) == ["alice", "bob"] and removals(db) == []
    code, out, _ = hw("users", "remove", "alice", "--yes", "--force", "-d", db)
    assert code == 0 and "removed alice" in out
    assert names(db) == ["bob"]
    [event] = removals(db)
    assert event["subject"] == "user:alice" and event["forced"] is True


def test_an_admin_with_another_admin_left_is_removed(db: str) -> None:
    assert hw("users", "roles", "bob", "--admin", "-d", db)[0] == 0
    assert hw("users", "remove", "alice", "--yes", "-d", db)[0] == 0
    assert names(db) == ["bob"]


def test_a_locked_admin_does_not_count_as_the_one_left(db: str) -> None:
    assert hw("users", "roles", "bob", "--admin", "-d", db)[0] == 0
    assert hw("users", "lock", "bob", "-d", db)[0] == 0
    code, _, err = hw("users", "remove", "alice", "--yes", "-d", db)
    assert code == 2 and "last admin" in err
    assert names(db) == ["alice", "bob"]


def test_without_yes_and_without_a_terminal_nothing_is_removed(db: str) -> None:
    code, out, err = hw("users", "remove", "bob", "-d", db, stdin="y\n")
    assert code == 2 and out == ""
    assert err.strip() == "error: not removing bob without confirmation: add --yes"
    assert names(db) == ["alice", "bob"]


def test_at_a_terminal_it_asks_first(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users_cli, "_interactive", lambda: True)
    code, out, err = hw("users", "remove", "bob", "-d", db, stdin="n\n")
    assert code == 1 and "Remove user bob" in out and err.strip() == "error: kept bob"
    assert names(db) == ["alice", "bob"]
    code, out, _ = hw("users", "remove", "bob", "-d", db, stdin="y\n")
    assert code == 0 and "removed bob" in out
    assert names(db) == ["alice"]
