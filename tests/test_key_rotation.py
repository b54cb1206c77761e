"""`hostwarden keys rotate`: a new key, every TOTP secret re-encrypted, nobody enrols again."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
import yaml
from typer.testing import CliRunner

from hostwarden.cli.app import app
from hostwarden.config import load_settings
from hostwarden.configfile import with_rotated_key, write_config
from hostwarden.core.secretbox import SecretBox, generate_key
from hostwarden.errors import ConfigError, StorageError
from hostwarden.runtime import open_core

runner = CliRunner()


def test_a_rotated_secret_needs_only_the_new_key() -> None:
    old, new = generate_key(), generate_key()
    sealed = SecretBox(old).encrypt("JBSWY3DPEHPK3PXP")
    both = SecretBox(new, [old])
    assert both.decrypt(sealed) == "JBSWY3DPEHPK3PXP"  # the previous key still decrypts
    rotated = both.rotate(sealed)
    assert SecretBox(new).decrypt(rotated) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(StorageError):
        SecretBox(old).decrypt(rotated)
    with pytest.raises(StorageError):
        SecretBox(old).decrypt(both.encrypt("x"))  # new secrets: the new key only


def test_macs_cover_the_current_then_the_previous_keys() -> None:
    old, new = generate_key(), generate_key()
    assert SecretBox(new, [old]).macs("t") == [SecretBox(new).mac("t"), SecretBox(old).mac("t")]


def test_a_bad_previous_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"totp\.previous_keys\[0\] is not a valid key"):
        SecretBox(generate_key(), ["nonsense"])


def test_the_file_edit_changes_two_lines_and_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    write_config(path, Path("data"))
    text = path.read_text()
    updated = with_rotated_key(text, "NEW", ["OLD"])
    changed = [
        pair
        for pair in zip(text.splitlines(), updated.splitlines(), strict=True)
        if pair[0] != pair[1]
    ]
    assert [new for _, new in changed] == ['  encryption_key: "NEW"', '  previous_keys: ["OLD"]']
    without = text.replace("  previous_keys: []\n", "")
    assert yaml.safe_load(with_rotated_key(without, "N", ["O"]))["totp"]["previous_keys"] == ["O"]
    block = text.replace("  previous_keys: []\n", "  previous_keys:\n    - OLDER\n")
    with pytest.raises(ConfigError, match="cannot update"):
        with_rotated_key(block, "N", ["O", "OLDER"])


def _enrol(config: str, png: Path) -> tuple[pyotp.TOTP, list[str]]:
    assert (
        runner.invoke(app, ["users", "add", "ida", "--telegram-id", "3", "-c", config]).exit_code
        == 0
    )
    result = runner.invoke(app, ["totp", "enroll", "ida", "-c", config, "--png", str(png)])
    secret = re.search(r"Secret for manual entry: ([A-Z2-7]+)", result.stdout)
    assert secret is not None
    totp = pyotp.TOTP(secret.group(1))
    result = runner.invoke(app, ["totp", "verify", "ida", totp.now(), "-c", config])
    assert result.exit_code == 0, result.output
    codes = re.findall(r"^  (\S+)$", result.stdout, re.MULTILINE)
    assert len(codes) == 10
    return totp, codes


def test_rotate_re_encrypts_every_secret_and_codes_keep_working(tmp_path: Path) -> None:
    config = tmp_path / "hostwarden.yaml"
    write_config(config, Path("data"))
    old_key = yaml.safe_load(config.read_text())["totp"]["encryption_key"]
    totp, codes = _enrol(str(config), tmp_path / "qr.png")

    result = runner.invoke(app, ["keys", "rotate", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "1 secret(s) re-encrypted" in result.stdout
    assert old_key not in result.stdout
    assert os.stat(config).st_mode & 0o777 == 0o600
    totp_section = yaml.safe_load(config.read_text())["totp"]
    new_key = totp_section["encryption_key"]
    assert new_key != old_key and totp_section["previous_keys"] == [old_key]

    stored = (
        sqlite3.connect(tmp_path / "data" / "hostwarden.db")
        .execute("SELECT secret_encrypted FROM totp_factors")
        .fetchone()[0]
    )
    assert SecretBox(new_key).decrypt(stored) == totp.secret  # the new key alone opens it
    with pytest.raises(StorageError):
        SecretBox(old_key).decrypt(stored)

    later = datetime.now(UTC) + timedelta(seconds=30)  # the next step: not yet used
    result = runner.invoke(app, ["totp", "verify", "ida", totp.at(later), "-c", str(config)])
    assert result.exit_code == 0 and "accepted" in result.stdout

    async def recover() -> str:
        async with open_core(load_settings(config)) as core:
            user = await core.accounts.get("ida")
            return (await core.totp.use_recovery_code(user, codes[0])).value

    assert asyncio.run(recover()) == "accepted"  # hashed under the old key, still good
    assert asyncio.run(recover()) != "accepted"  # and still only once

    second = runner.invoke(app, ["keys", "rotate", "-c", str(config)])
    assert second.exit_code == 0
    assert yaml.safe_load(config.read_text())["totp"]["previous_keys"] == [new_key, old_key]


def test_rotate_refuses_a_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "hostwarden.yaml"
    write_config(config, Path("data"))
    before = config.read_text()
    monkeypatch.setenv("HOSTWARDEN_TOTP__ENCRYPTION_KEY", generate_key())
    result = runner.invoke(app, ["keys", "rotate", "-c", str(config)])
    assert result.exit_code == 2 and "environment" in result.stderr
    assert config.read_text() == before
