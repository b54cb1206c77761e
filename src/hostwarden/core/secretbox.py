"""Encryption of secrets at rest (TOTP seeds) with a Fernet key from the configuration."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken

from hostwarden.errors import ConfigError, StorageError


def generate_key() -> str:
    """A fresh random key, as ``hostwarden init`` writes it."""
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts and decrypts short secrets; without a key it refuses with a clear message."""

    def __init__(self, key: str | None) -> None:
        self._fernet: Fernet | None = None
        self._mac_key = hashlib.sha256(b"hostwarden-mac:" + (key or "").encode()).digest()
        if key:
            try:
                self._fernet = Fernet(key.encode())
            except (ValueError, TypeError):
                raise ConfigError(
                    "totp.encryption_key is not a valid key (32 url-safe base64-encoded bytes); "
                    "`hostwarden init` generates one"
                ) from None

    def _require(self) -> Fernet:
        if self._fernet is None:
            raise ConfigError(
                "no TOTP encryption key: set totp.encryption_key in the config or "
                "HOSTWARDEN_TOTP__ENCRYPTION_KEY (`hostwarden init` generates one)"
            )
        return self._fernet

    def mac(self, text: str) -> str:
        """A keyed hash (HMAC-SHA256): a stolen database alone cannot be brute-forced with it."""
        self._require()
        return hmac.new(self._mac_key, text.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, plain: str) -> str:
        return self._require().encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._require().decrypt(token.encode()).decode()
        except InvalidToken:
            raise StorageError(
                "a stored TOTP secret cannot be decrypted with the configured key"
            ) from None
