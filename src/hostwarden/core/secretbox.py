"""Encryption of secrets at rest (TOTP seeds) with Fernet keys from the configuration.

One key encrypts (``totp.encryption_key``); keys retired by ``hostwarden keys rotate``
(``totp.previous_keys``) still decrypt, through :class:`~cryptography.fernet.MultiFernet`, so a
rotation never makes anyone enrol again. Recovery codes are stored as HMACs keyed from the
encryption key; a code hashed under a retired key still matches (:meth:`SecretBox.macs`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hostwarden.errors import ConfigError, StorageError


def generate_key() -> str:
    """A fresh random key, as ``hostwarden init`` writes it."""
    return Fernet.generate_key().decode()


def _fernet(key: str, setting: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError):
        raise ConfigError(
            f"{setting} is not a valid key (32 url-safe base64-encoded bytes); "
            "`hostwarden init` generates one"
        ) from None


def _mac_key(key: str) -> bytes:
    return hashlib.sha256(b"hostwarden-mac:" + key.encode()).digest()


class SecretBox:
    """Encrypts and decrypts short secrets; without a key it refuses with a clear message.

    ``key`` encrypts; ``previous`` (older keys, newest first) only decrypt and check MACs.
    """

    def __init__(self, key: str | None, previous: Sequence[str] = ()) -> None:
        self._fernet: MultiFernet | None = None
        self._mac_keys = [_mac_key(key or "")]
        if key:
            fernets = [_fernet(key, "totp.encryption_key")]
            for index, old in enumerate(previous):
                fernets.append(_fernet(old, f"totp.previous_keys[{index}]"))
                self._mac_keys.append(_mac_key(old))
            self._fernet = MultiFernet(fernets)

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise ConfigError(
                "no TOTP encryption key: set totp.encryption_key in the config or "
                "HOSTWARDEN_TOTP__ENCRYPTION_KEY (`hostwarden init` generates one)"
            )
        return self._fernet

    def mac(self, text: str) -> str:
        """A keyed hash (HMAC-SHA256): a stolen database alone cannot be brute-forced with it."""
        self._require()
        return hmac.new(self._mac_keys[0], text.encode(), hashlib.sha256).hexdigest()

    def macs(self, text: str) -> list[str]:
        """``text``'s keyed hash under the current key, then under each previous one."""
        self._require()
        return [hmac.new(key, text.encode(), hashlib.sha256).hexdigest() for key in self._mac_keys]

    def encrypt(self, plain: str) -> str:
        """``plain`` encrypted with the current key."""
        return self._require().encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt with the current key or any previous one."""
        try:
            return self._require().decrypt(token.encode()).decode()
        except InvalidToken:
            raise StorageError(
                "a stored TOTP secret cannot be decrypted with the configured key"
            ) from None

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted under the current key (it may be under any known key)."""
        try:
            return self._require().rotate(token.encode()).decode()
        except InvalidToken:
            raise StorageError(
                "a stored TOTP secret cannot be decrypted with the configured keys"
            ) from None
