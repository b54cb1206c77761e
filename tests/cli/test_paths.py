"""Where state lives and who may read it: never the working directory; 0700 and 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hostwarden.cli.app import app
from hostwarden.config import StorageSettings, load_settings, platform_data_dir, resolve_data_dir
from hostwarden.configfile import write_config

runner = CliRunner()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that is not the config's, with no config or XDG variable in sight."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("HOSTWARDEN_CONFIG", raising=False)
    monkeypatch.delenv("HOSTWARDEN_STORAGE__DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return cwd


def test_a_relative_data_dir_is_relative_to_the_config_file(
    tmp_path: Path, elsewhere: Path
) -> None:
    config = tmp_path / "etc" / "hostwarden.yaml"
    write_config(config, Path("data"))
    result = runner.invoke(app, ["users", "add", "ann", "--telegram-id", "5", "-c", str(config)])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "etc" / "data" / "hostwarden.db").is_file()
    assert list(elsewhere.iterdir()) == []  # nothing created where the command ran
    result = runner.invoke(app, ["users", "list", "--json", "-c", str(config)])
    assert '"ann"' in result.stdout  # the same database, from anywhere


def test_with_no_config_state_goes_to_the_platform_data_dir(
    tmp_path: Path, elsewhere: Path
) -> None:
    result = runner.invoke(app, ["users", "add", "bo", "--telegram-id", "6"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "xdg" / "hostwarden" / "hostwarden.db").is_file()
    assert list(elsewhere.iterdir()) == []


def test_platform_data_dir_follows_xdg_only_when_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/xdg")
    assert platform_data_dir() == tmp_path / "home" / ".local" / "share" / "hostwarden"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "x"))
    assert platform_data_dir() == tmp_path / "x" / "hostwarden"
    given = StorageSettings(data_dir=Path("sub"))
    assert resolve_data_dir(given, None) == tmp_path / "x" / "hostwarden" / "sub"
    assert resolve_data_dir(StorageSettings(), None) == tmp_path / "x" / "hostwarden"
    absolute = StorageSettings(data_dir=tmp_path / "abs")
    assert resolve_data_dir(absolute, tmp_path / "etc" / "c.yaml") == tmp_path / "abs"


def test_an_environment_data_dir_is_relative_to_the_config_file_too(
    tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "etc" / "hostwarden.yaml"
    write_config(config, Path("/ignored"))
    monkeypatch.setenv("HOSTWARDEN_STORAGE__DATA_DIR", "state")
    assert load_settings(config).storage.data_dir == tmp_path / "etc" / "state"


def test_the_data_dir_is_0700_and_the_database_0600(tmp_path: Path, elsewhere: Path) -> None:
    previous = os.umask(0o022)  # the usual umask, which alone would give 0755 and 0644
    try:
        config = tmp_path / "etc" / "hostwarden.yaml"
        write_config(config, Path("data"))
        args = ["users", "add", "cy", "--telegram-id", "7", "-c", str(config)]
        assert runner.invoke(app, args).exit_code == 0
    finally:
        os.umask(previous)
    data = tmp_path / "etc" / "data"
    assert mode(data) == 0o700
    for path in data.iterdir():  # the database and its -wal / -shm companions
        assert mode(path) == 0o600, path


def test_a_readable_data_dir_and_database_are_tightened(tmp_path: Path, elsewhere: Path) -> None:
    config = tmp_path / "etc" / "hostwarden.yaml"
    write_config(config, Path("data"))
    data = tmp_path / "etc" / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "hostwarden.db").touch()
    (data / "hostwarden.db").chmod(0o644)
    result = runner.invoke(app, ["users", "list", "-c", str(config)])
    assert result.exit_code == 0, result.stderr
    assert mode(data) == 0o700 and mode(data / "hostwarden.db") == 0o600


def test_a_database_path_outside_the_data_dir_gets_a_private_file(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    database = shared / "x.db"
    result = runner.invoke(app, ["users", "list", "--database", str(database)])
    assert result.exit_code == 0, result.stderr
    assert mode(database) == 0o600
    assert mode(shared) == 0o755  # a folder named by --database is not ours to change
