"""Configuration sources, the schema's migrations, and the core's import boundary."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from hostwarden.config import load_settings
from hostwarden.configfile import write_config
from hostwarden.storage.sql import SqlStore
from hostwarden.storage.sql.tables import metadata


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hostwarden.yaml"
    write_config(path, tmp_path / "data")
    monkeypatch.setenv("HOSTWARDEN_LOCKOUT__WINDOW_SECONDS", "42")
    monkeypatch.setenv("HOSTWARDEN_ACCESS__ADMIN_TELEGRAM_IDS", "[7, 8]")
    settings = load_settings(path)
    assert settings.lockout.window_seconds == 42
    assert settings.access.admin_telegram_ids == [7, 8]
    assert settings.totp.encryption_key is not None
    assert "encryption_key" not in repr(settings.totp) or "**********" in repr(settings.totp)
    assert settings.storage.database_url() == str(tmp_path / "data" / "hostwarden.db")


def test_migrations_build_exactly_the_declared_schema(tmp_path: Path) -> None:
    path = tmp_path / "schema.db"
    store = SqlStore(str(path))
    asyncio.run(store.start())
    asyncio.run(store.close())
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_core_imports_no_transport_or_driver() -> None:
    result = subprocess.run(
        ["lint-imports"], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_environment_problems_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hostwarden.errors import ConfigError

    path = tmp_path / "hostwarden.yaml"
    write_config(path, tmp_path / "data")
    monkeypatch.setenv("HOSTWARDEN_LOCKOUT__WINDOW_SECONDS", "soon")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        "environment HOSTWARDEN_LOCKOUT__WINDOW_SECONDS: lockout.window_seconds: "
        "Input should be a valid integer, unable to parse string as an integer"
    ]
    monkeypatch.delenv("HOSTWARDEN_LOCKOUT__WINDOW_SECONDS")
    monkeypatch.setenv("HOSTWARDEN_ACCESS__ADMIN_TELEGRAM_IDS", "not json")
    with pytest.raises(ConfigError, match="given as JSON"):
        load_settings(path)
