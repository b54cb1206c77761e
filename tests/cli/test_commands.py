"""The command line's surface: a fast --version, completion, plain flags, roles, following."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from hostwarden import __version__
from hostwarden.cli.app import app
from hostwarden.cli.follow import follow
from hostwarden.core.service import AccessCore
from hostwarden.storage.base import AuditEvent

runner = CliRunner()
HEAVY = ("typer", "rich", "sqlalchemy", "aiogram", "pydantic", "cryptography", "docker")


def test_version_imports_nothing_heavy() -> None:
    script = (
        "import sys; sys.argv = ['hostwarden', '--version']\n"
        "from hostwarden.cli.app import main; main()\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"hostwarden {__version__}", "[]"]


def test_help_does_not_import_the_database_or_the_bot() -> None:
    script = (
        "import sys; sys.argv = ['hostwarden', 'users', '--help']\n"
        "from hostwarden.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'aiogram'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines()[-1] == "[]"


def _commands(group: TyperGroup, prefix: list[str]) -> list[list[str]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += _commands(command, [*prefix, name])
        else:
            found.append([*prefix, name])
    return found


def test_no_help_page_shows_a_type_placeholder_for_a_flag() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    pages = _commands(root, [])
    assert len(pages) > 20
    for words in pages:
        result = runner.invoke(app, [*words, "--help"])
        assert result.exit_code == 0, words
        assert "<bool>" not in result.stdout, words


def test_shell_completion_is_offered() -> None:
    result = runner.invoke(app, ["--help"])
    assert "--install-completion" in result.stdout
    result = runner.invoke(app, ["--show-completion", "bash"])
    assert "_HOSTWARDEN_COMPLETE" in result.stdout


def test_users_roles_grants_and_takes_away_admin(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    assert (
        runner.invoke(app, ["users", "add", "gil", "--telegram-id", "9", "-d", db]).exit_code == 0
    )

    def roles() -> list[str]:
        rows = json.loads(runner.invoke(app, ["users", "list", "--json", "-d", db]).stdout)
        return list(rows[0]["roles"])

    result = runner.invoke(app, ["users", "roles", "gil", "--admin", "-d", db])
    assert result.exit_code == 0 and "admin, user" in result.stdout
    assert roles() == ["admin", "user"]
    assert runner.invoke(app, ["users", "roles", "gil", "--no-admin", "-d", db]).exit_code == 0
    assert roles() == ["user"]
    result = runner.invoke(app, ["users", "roles", "nobody", "--admin", "-d", db])
    assert result.exit_code == 2 and result.stderr.strip() == "error: no user 'nobody'"
    result = runner.invoke(app, ["audit", "tail", "--json", "--kind", "account.updated", "-d", db])
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["subject"] for e in events] == ["user:gil", "user:gil"]
    assert all(e["actor"].startswith("cli:") for e in events)


class Stop(Exception):
    """Raised by the injected sleep to end the follow loop."""


async def test_follow_prints_each_new_event_once_in_order(core: AccessCore) -> None:
    first = await core.audit.record("account.created", actor="cli:x", subject="user:a")
    seen: list[AuditEvent] = []
    polls: list[float] = []

    async def sleep(seconds: float) -> None:  # each poll: a few events arrive in between
        polls.append(seconds)
        if len(polls) == 1:
            await core.audit.record("account.locked", subject="user:a")
            await core.audit.record("account.unlocked", subject="user:a")
        elif len(polls) == 2:
            await core.audit.record("account.locked", subject="user:b")
        else:
            raise Stop

    with pytest.raises(Stop):
        await follow(core, first.id, None, seen.append, sleep, 2.5)
    assert [(e.kind, e.subject) for e in seen] == [
        ("account.locked", "user:a"),
        ("account.unlocked", "user:a"),
        ("account.locked", "user:b"),
    ]
    assert polls == [2.5, 2.5, 2.5]


async def test_follow_catches_up_past_one_page(core: AccessCore) -> None:
    import hostwarden.cli.follow as following

    start = await core.audit.record("account.created", subject="user:z")
    for number in range(following.PAGE * 2 + 3):
        await core.audit.record("account.updated", subject=f"user:{number}")
    seen: list[AuditEvent] = []

    async def stop(_seconds: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        await follow(core, start.id, "account.updated", seen.append, stop, 1)
    assert [e.subject for e in seen] == [f"user:{n}" for n in range(following.PAGE * 2 + 3)]
