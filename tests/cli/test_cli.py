"""The command line, end to end on an SQLite file: exit codes, output, one-line errors."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest
from passlib.hash import pbkdf2_sha256
from typer.testing import CliRunner

from hostwarden.cli.app import app

runner = CliRunner()


def hw(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "hostwarden.yaml"
    code, out, _ = hw("init", "--config", str(path), "--data-dir", str(tmp_path / "data"))
    assert code == 0 and "mode 600" in out
    return str(path)


def test_init_writes_a_private_config_and_refuses_to_overwrite(config: str) -> None:
    assert os.stat(config).st_mode & 0o777 == 0o600
    text = Path(config).read_text()
    assert re.search(r'encryption_key: "[A-Za-z0-9_-]{43}="', text)
    code, _, err = hw("init", "--config", config)
    assert code == 2 and "already exists" in err


def test_init_writes_the_owner_everywhere_it_is_needed(tmp_path: Path) -> None:
    from hostwarden.config import load_settings

    path = tmp_path / "owner.yaml"
    code, out, _ = hw("init", "--config", str(path), "--admin-telegram-id", "123456789")
    assert code == 0 and "123456789 is the admin" in out
    settings = load_settings(path)
    assert settings.access.admin_telegram_ids == [123456789]
    assert settings.telegram.admin_chat_ids == [123456789]  # alerts reach the owner
    code, _, err = hw("init", "--config", str(tmp_path / "x.yaml"), "--admin-telegram-id", "0")
    assert code == 2 and "Traceback" not in err


def test_group_readable_config_is_refused_with_the_fix(config: str) -> None:
    os.chmod(config, 0o644)
    code, _, err = hw("users", "list", "--config", config)
    assert code == 2
    assert f"chmod 600 {config}" in err and "Traceback" not in err
    code, _, _ = hw("users", "list", "--config", config, "--allow-insecure-config")
    assert code == 0


def test_bad_config_gives_one_line_per_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("lockout:\n  window_seconds: -1\n  nonsense: 3\naccess: []\n")
    path.chmod(0o600)
    code, _, err = hw("users", "list", "--config", str(path))
    lines = [line for line in err.splitlines() if line]
    assert code == 2 and len(lines) == 3
    assert all(line.startswith("error: ") for line in lines)
    assert any("lockout.window_seconds" in line for line in lines)
    assert any("lockout.nonsense" in line for line in lines)
    path.write_text("lockout: [unclosed\n")
    code, _, err = hw("users", "list", "--config", str(path))
    assert code == 2 and "not valid YAML at line" in err


def test_users_add_list_lock_unlock_passwd(db: str) -> None:
    code, out, _ = hw(
        "users",
        "add",
        "alice",
        "--admin",
        "--telegram-id",
        "123456789",
        "--password-stdin",
        "--database",
        db,
        stdin="a long password\n",
    )
    assert code == 0 and "added alice" in out
    code, out, _ = hw("users", "add", "bob", "--telegram-id", "55", "--database", db)
    assert code == 0
    code, _, err = hw("users", "add", "nobody", "--database", db)
    assert code == 2 and "needs a way in" in err
    code, out, _ = hw("users", "list", "--json", "--database", db)
    rows = json.loads(out)
    assert [r["username"] for r in rows] == ["alice", "bob"]
    assert rows[0]["roles"] == ["admin", "user"] and rows[0]["telegram_ids"] == [123456789]
    assert rows[0]["password"] and not rows[1]["password"]
    assert hw("users", "lock", "alice", "--database", db)[0] == 0
    assert json.loads(hw("users", "list", "--json", "--database", db)[1])[0]["locked"]
    assert hw("users", "unlock", "alice", "--database", db)[0] == 0
    code, _, _ = hw(
        "users", "passwd", "alice", "--password-stdin", "--database", db, stdin="x" * 12
    )
    assert code == 0
    code, _, err = hw("users", "lock", "nobody", "--database", db)
    assert code == 2 and err.strip() == "error: no user 'nobody'"
    code, _, err = hw("users", "add", "alice", "--telegram-id", "66", "--database", db)
    assert code == 2 and "already exists" in err


def test_short_password_is_refused_in_one_line(db: str) -> None:
    code, _, err = hw("users", "add", "carl", "--password-stdin", "--database", db, stdin="short\n")
    assert code == 2 and err.strip() == "error: passwords need at least 8 characters"


def test_totp_enroll_verify_reset(config: str, tmp_path: Path) -> None:
    assert hw("users", "add", "dora", "--telegram-id", "77", "--config", config)[0] == 0
    png = tmp_path / "qr.png"
    code, out, _ = hw("totp", "enroll", "dora", "--png", str(png), "--config", config)
    assert code == 0 and png.read_bytes().startswith(b"\x89PNG")
    secret = re.search(r"Secret for manual entry: ([A-Z2-7]+)", out)
    assert secret is not None
    totp = pyotp.TOTP(secret.group(1))
    code, out, _ = hw("totp", "verify", "dora", totp.now(), "--config", config)
    assert code == 0 and "Recovery codes" in out
    code, out, _ = hw("totp", "verify", "dora", totp.now(), "--config", config)
    assert code == 1 and "replayed" in out
    assert hw("totp", "reset", "dora", "--config", config)[0] == 0
    code, out, _ = hw("totp", "enroll", "dora", "--config", config)
    assert code == 0 and "Secret for manual entry" in out
    assert any(block in out for block in "█▀▄")  # the terminal QR code


def test_totp_needs_the_encryption_key(db: str) -> None:
    hw("users", "add", "eve", "--telegram-id", "88", "--database", db)
    code, _, err = hw("totp", "enroll", "eve", "--database", db)
    assert code == 2 and "HOSTWARDEN_TOTP__ENCRYPTION_KEY" in err


def test_blocks_sessions_audit(db: str) -> None:
    hw("users", "add", "fay", "--password-stdin", "--database", db, stdin="a long password\n")
    code, out, _ = hw("blocks", "list", "--database", db)
    assert code == 0 and "tg:" not in out
    code, _, err = hw("blocks", "unblock", "42", "--database", db)
    assert code == 2 and "no block on tg:42" in err
    code, out, _ = hw("sessions", "list", "--database", db)
    assert code == 0
    code, _, err = hw("sessions", "revoke", "--database", db)
    assert code == 2 and "either a session handle or --user" in err
    code, out, _ = hw("sessions", "revoke", "--user", "fay", "--database", db)
    assert code == 0 and "revoked 0" in out
    code, out, _ = hw("audit", "tail", "-n", "5", "--json", "--database", db)
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events][:1] == ["account.created"]
    assert events[-1]["event"] == "session.revoked"


def test_import_user_handler_database(tmp_path: Path, db: str) -> None:
    legacy = tmp_path / "legacy.db"
    conn = sqlite3.connect(legacy)
    conn.execute(
        "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT UNIQUE NOT NULL,"
        " password TEXT NOT NULL, is_admin INTEGER DEFAULT 0, account_locked INTEGER DEFAULT 0,"
        " failed_login_attempts INTEGER DEFAULT 0)"
    )
    conn.execute(
        "INSERT INTO users (username, password, is_admin) VALUES (?, ?, 1)",
        ("olduser", pbkdf2_sha256.hash("old secret pw")),
    )
    conn.execute(
        "INSERT INTO users (username, password, account_locked) VALUES (?, ?, 1)",
        ("lockedone", pbkdf2_sha256.hash("another pw 1")),
    )
    conn.commit()
    conn.close()
    code, out, _ = hw("users", "import-user-handler", str(legacy), "--database", db)
    assert code == 0 and "imported 2 of 2" in out
    code, out, _ = hw("users", "import-user-handler", str(legacy), "--database", db)
    assert "imported 0 of 2" in out and "skipped olduser (exists)" in out

    from hostwarden.user_handler import Database, UserHandler

    database = Database(db)
    handler = UserHandler(database)
    request = {"ip_address": "10.0.0.1", "user_agent": "ua"}
    assert handler.login("olduser", "old secret pw", request) and handler.is_admin()
    assert not handler.login("lockedone", "another pw 1", request)
    database.close()
    code, _, err = hw("users", "import-user-handler", str(tmp_path / "none.db"), "--database", db)
    assert code == 2 and "no such file" in err


def test_entry_point_runs_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hostwarden",
            "users",
            "list",
            "--database",
            "postgresql://x@127.0.0.1:1/none",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_attacker_chosen_names_print_as_text(db: str) -> None:
    import asyncio

    from hostwarden.config import Settings
    from hostwarden.runtime import open_core

    async def attempt() -> None:
        async with open_core(Settings(), db) as core:
            await core.accounts.login("[bold red]<script>", "whatever pw", "10.0.0.9", "ua")

    asyncio.run(attempt())
    result = runner.invoke(
        app, ["audit", "tail", "-n", "5", "--database", db], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0
    assert "user:[bold red]<script>" in result.stdout  # shown literally, not as markup
