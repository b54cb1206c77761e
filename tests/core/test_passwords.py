"""Passwords: argon2id at OWASP's cost or above, and seed 003's passlib hashes."""

from __future__ import annotations

import pytest
from passlib.hash import pbkdf2_sha256

from hostwarden.core.passwords import PasswordHasher, verify_legacy_pbkdf2
from hostwarden.core.settings import PasswordSettings
from hostwarden.errors import InvalidInput


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


def test_new_hashes_are_argon2id_with_owasp_parameters(hasher: PasswordHasher) -> None:
    stored = hasher.hash("s3cret-passw0rd")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify("s3cret-passw0rd", stored) == (True, None)
    assert hasher.verify("wrong", stored) == (False, None)


def test_settings_cannot_go_below_owasp() -> None:
    with pytest.raises(ValueError, match="greater than or equal"):
        PasswordSettings(memory_kib=4096)


def test_legacy_pbkdf2_verifies_and_asks_for_an_upgrade(hasher: PasswordHasher) -> None:
    legacy = pbkdf2_sha256.hash("old password")
    assert legacy.startswith("$pbkdf2-sha256$29000$")
    assert verify_legacy_pbkdf2("old password", legacy)
    ok, upgraded = hasher.verify("old password", legacy)
    assert ok and upgraded is not None and upgraded.startswith("$argon2id$")
    assert hasher.verify("not it", legacy) == (False, None)


@pytest.mark.parametrize(
    "broken", ["$pbkdf2-sha256$x$y$z", "$pbkdf2-sha256$0$AA$AA", "$pbkdf2-sha256$", "garbage"]
)
def test_broken_hashes_refuse_without_raising(hasher: PasswordHasher, broken: str) -> None:
    assert hasher.verify("anything", broken) == (False, None)


def test_unknown_user_check_is_false(hasher: PasswordHasher) -> None:
    assert hasher.verify("anything", None) == (False, None)


def test_policy(hasher: PasswordHasher) -> None:
    with pytest.raises(InvalidInput, match="at least 8"):
        hasher.check_policy("short")
    hasher.check_policy("long enough")
