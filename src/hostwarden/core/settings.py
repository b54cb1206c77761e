"""The knobs of the core, as plain validated values.

These models hold defaults only; :mod:`hostwarden.config` reads them from the YAML file and the
environment and passes them in. Nothing here reads a file or a global.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccessSettings(_Section):
    """Who may use the bot, as declared in the configuration (the store holds the rest)."""

    allowed_telegram_ids: list[int] = Field(default_factory=list)
    admin_telegram_ids: list[int] = Field(default_factory=list)
    max_attempts: int = Field(3, ge=1, le=100, description="unknown-actor attempts before a block")
    setup_action: str = "getmyid"
    rate_limit: int = Field(
        20, ge=0, description="requests a known user may make per rate_window_seconds (0: off)"
    )
    rate_window_seconds: int = Field(10, ge=1)


class LockoutSettings(_Section):
    """Counting windows and progressive blocks."""

    window_seconds: int = Field(3600, ge=1)
    block_seconds: int = Field(3600, ge=1, description="first block; doubles each time")
    max_block_seconds: int = Field(86400, ge=1)
    permanent_after: int = Field(
        0, ge=0, description="block for good after this many blocks (0: never)"
    )
    remember_seconds: int = Field(
        86400, ge=1, description="how long back-off levels are remembered after the last try"
    )
    password_max_failures: int = Field(5, ge=1, le=1000)
    totp_max_failures: int = Field(3, ge=1, le=1000)
    ip_max_failures: int = Field(50, ge=1, description="failures from one IP across accounts")

    @model_validator(mode="after")
    def _bounds(self) -> LockoutSettings:
        if self.max_block_seconds < self.block_seconds:
            raise ValueError("max_block_seconds must be at least block_seconds")
        return self


class AlertSettings(_Section):
    """Flood control for the admin chat."""

    suppress_seconds: int = Field(300, ge=0, description="at most one alert per actor this often")
    digest_above_per_minute: int = Field(
        20, ge=1, description="beyond this many alerts a minute, fold them into one digest"
    )
    retry_seconds: int = Field(30, ge=1)
    max_retry_seconds: int = Field(3600, ge=1)


class BindingPolicy(StrEnum):
    """How strictly a session is tied to the address and browser that opened it."""

    STRICT = "strict"
    SUBNET = "subnet"
    OFF = "off"


class SessionSettings(_Section):
    """Session lifetimes and binding (defaults follow OWASP's advice)."""

    idle_seconds: int = Field(1800, ge=30)
    absolute_seconds: int = Field(8 * 3600, ge=60)
    binding: BindingPolicy = BindingPolicy.STRICT
    mfa_fresh_seconds: int = Field(
        600, ge=30, description="how long a passed 2FA check covers critical actions"
    )
    cleanup_every_seconds: int = Field(300, ge=10)


class TotpSettings(_Section):
    """Second-factor parameters."""

    issuer: str = "hostwarden"
    encryption_key: SecretStr | None = Field(
        None, description="Fernet key that encrypts TOTP secrets at rest"
    )
    digits: int = Field(6, ge=6, le=8)
    period: int = Field(30, ge=15, le=120)
    valid_window: int = Field(1, ge=0, le=1)
    recovery_codes: int = Field(10, ge=1, le=20)


class PasswordSettings(_Section):
    """argon2id cost; the floor is OWASP's minimum (m=19 MiB, t=2, p=1)."""

    time_cost: int = Field(2, ge=2)
    memory_kib: int = Field(19456, ge=19456)
    parallelism: int = Field(1, ge=1)
    min_length: int = Field(8, ge=1)
