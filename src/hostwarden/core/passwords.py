"""Password hashing: argon2id through pwdlib, plus verification of legacy passlib PBKDF2 hashes.

Legacy ``$pbkdf2-sha256$`` hashes (seed 003's ``user_handler``) verify and report that they need
an upgrade, so callers rehash them to argon2id at the next successful login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from hostwarden.core.settings import PasswordSettings
from hostwarden.errors import InvalidInput

LEGACY_PREFIX = "$pbkdf2-sha256$"


def _ab64_decode(text: str) -> bytes:
    # passlib's "adapted base64": '.' stands for '+', and padding is dropped.
    padded = text.replace(".", "+") + "=" * (-len(text) % 4)
    return base64.b64decode(padded, validate=True)


def verify_legacy_pbkdf2(password: str, stored: str) -> bool:
    """Check ``password`` against a passlib ``$pbkdf2-sha256$rounds$salt$hash`` string."""
    try:
        _, scheme, rounds_text, salt_text, digest_text = stored.split("$")
        rounds = int(rounds_text)
        salt, digest = _ab64_decode(salt_text), _ab64_decode(digest_text)
    except (ValueError, binascii.Error):
        return False
    if scheme != "pbkdf2-sha256" or not 1 <= rounds <= 10_000_000 or not digest:
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds, len(digest))
    return hmac.compare_digest(candidate, digest)


class PasswordHasher:
    """Hashes new passwords with argon2id and verifies stored hashes in constant-ish time."""

    def __init__(self, settings: PasswordSettings | None = None) -> None:
        self._settings = settings or PasswordSettings()
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=self._settings.time_cost,
                    memory_cost=self._settings.memory_kib,
                    parallelism=self._settings.parallelism,
                ),
            )
        )
        # A real hash of a random password: unknown users are checked against it, so their
        # answer takes as long as a known user's.
        self._dummy = self._hash.hash(secrets.token_urlsafe(24))

    def check_policy(self, password: str) -> None:
        """Refuse passwords that are too short or too long, with one clear line."""
        if len(password) < self._settings.min_length:
            raise InvalidInput(f"passwords need at least {self._settings.min_length} characters")
        if len(password) > 1024:
            raise InvalidInput("passwords are limited to 1024 characters")

    def hash(self, password: str) -> str:
        """A new argon2id hash of ``password``."""
        return self._hash.hash(password)

    def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """Verify ``password``; returns ``(ok, new_hash)`` where ``new_hash`` replaces a weak hash.

        With ``stored=None`` (unknown user) a dummy hash is checked and the answer is ``False``.
        """
        if stored is None:
            self._hash.verify(password, self._dummy)
            return False, None
        if stored.startswith(LEGACY_PREFIX):
            ok = verify_legacy_pbkdf2(password, stored)
            return ok, (self.hash(password) if ok else None)
        try:
            ok, updated = self._hash.verify_and_update(password, stored)
        except Exception:  # an unreadable stored hash must refuse, not crash
            self._hash.verify(password, self._dummy)
            return False, None
        return ok, updated

    def dummy_verify(self, password: str) -> None:
        """Spend the time of one verification (used where no real hash applies)."""
        self._hash.verify(password, self._dummy)
