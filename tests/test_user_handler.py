"""Seed 003's API and example scenario, on SQLite and PostgreSQL, without the original's defects."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from examples.user_handler_demo import main as demo_main

from hostwarden.user_handler import Database, Security, UserHandler
from tests.conftest import database_url_for

REQUEST = {"ip_address": "192.168.1.10", "user_agent": "Mozilla/5.0"}


def test_seed_scenario_runs_as_the_example(tmp_path: Path) -> None:
    lines = demo_main(str(tmp_path / "users.db"))
    assert lines == [
        "register alice: True",
        "register admin: True",
        "login alice: True",
        "logged in: True, admin: False",
        "session valid here: True",
        "logout: True, logged in: False",
        "login admin: True",
        "admin: True",
        "session valid from another address: False",
        "six wrong passwords: [False, False, False, False, False, False]",
        "right password while locked: False",
        "reset: True",
        "login after reset: True",
    ]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return asyncio.run(database_url_for(request.param, tmp_path, request))


def test_api_on_each_database(database: str) -> None:
    db = Database(database)
    db.setup_tables()
    handler = UserHandler(db, max_failed_attempts=3)
    assert handler.register("zoe", "zoe password 1", is_admin=True)
    assert not handler.register("zoe", "zoe password 2")
    assert not handler.is_logged_in() and handler.session_id is None
    assert handler.login("zoe", "zoe password 1", REQUEST)
    first = handler.session_id
    assert first and handler.is_logged_in() and handler.is_admin()
    assert not handler.validate_session({**REQUEST, "user_agent": "curl"})
    assert not handler.is_logged_in()  # a binding mismatch ends the session
    assert handler.login("zoe", "zoe password 1", REQUEST)
    assert handler.session_id != first  # a new session ID at every login
    assert handler.lock_account("zoe") and not handler.is_logged_in()
    assert not handler.login("zoe", "zoe password 1", REQUEST)
    assert handler.reset_failed_attempts("zoe")
    assert handler.login("zoe", "zoe password 1", REQUEST)
    assert [handler.increment_failed_attempts("zoe") for _ in range(3)] == [1, 2, 3]
    assert not handler.login("zoe", "zoe password 1", REQUEST)
    assert not handler.lock_account("nobody")
    db.close()


def test_security_helpers() -> None:
    hashed = Security.hash_password("pw pw pw pw")
    assert hashed.startswith("$argon2id$")
    assert Security.verify_password("pw pw pw pw", hashed)
    assert not Security.verify_password("nope", hashed)
    assert Security.regenerate_session("old") != Security.regenerate_session("old")
    assert len(Security.regenerate_session()) >= 43


def test_session_ids_are_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = Database(str(tmp_path / "quiet.db"))
    handler = UserHandler(db)
    handler.register("quiet", "quiet password")
    handler.login("quiet", "quiet password", REQUEST)
    token = handler.session_id
    handler.logout()
    db.close()
    captured = capsys.readouterr()
    assert token and token not in captured.out + captured.err
