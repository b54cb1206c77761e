"""The knobs of the core, as plain validated values.

These models hold defaults only; :mod:`hostwarden.config` reads them from the YAML file and the
environment and passes them in. Nothing here reads a file or a global.

Every number has a lower and an upper bound, and every list a maximum length. The upper bounds
keep date arithmetic safe: no duration exceeds :data:`MAX_DURATION_SECONDS` (ten years), so
``now + duration`` and ``timedelta(seconds=...)`` can never overflow, and no count exceeds
:data:`MAX_COUNT`. The other settings modules use the same constants.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

MINUTE_SECONDS = 60
HOUR_SECONDS = 3600
DAY_SECONDS = 86_400
#: The longest duration any setting accepts: ten years (3650 days) in seconds.
MAX_DURATION_SECONDS = 3650 * DAY_SECONDS
#: The largest count any setting accepts (limits, thresholds, levels).
MAX_COUNT = 1_000_000
#: The longest list of Telegram IDs a setting accepts.
MAX_IDS = 10_000
#: The longest URL a setting accepts.
MAX_URL_LENGTH = 2048
#: The longest key, token or other short secret a setting accepts.
MAX_SECRET_LENGTH = 256
#: The longest name (issuer, host name, action name) a setting accepts.
MAX_NAME_LENGTH = 255
#: Telegram IDs are 64-bit signed integers (the store keeps them in BIGINT columns).
MAX_TELEGRAM_ID = 2**63 - 1

TelegramUserId = Annotated[
    int, Field(ge=1, le=MAX_TELEGRAM_ID, description="a Telegram user ID: 1 to 2**63-1")
]
"""A Telegram user's ID (always positive)."""

TelegramChatId = Annotated[
    int,
    Field(
        ge=-MAX_TELEGRAM_ID,
        le=MAX_TELEGRAM_ID,
        description="a Telegram chat ID (groups are negative): -(2**63-1) to 2**63-1",
    ),
]
"""A Telegram chat's ID; groups and channels have negative IDs."""


#: A fleet host's name, as ``hostwarden.fleet.target.check_host_name`` accepts it.
HostName = Annotated[
    str,
    Field(
        max_length=32,
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$",
        description="1-32 of a-z, 0-9 and '-', not starting or ending with '-'",
    ),
]
#: Who a host grant is for: an account name or a Telegram ID (as text).
GrantKey = Annotated[str, Field(min_length=1, max_length=64)]
HostList = Annotated[list[HostName], Field(max_length=1000)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccessSettings(_Section):
    """Who may use the bot, as declared in the configuration (the store holds the rest)."""

    allowed_telegram_ids: list[TelegramUserId] = Field(
        default_factory=list, max_length=MAX_IDS, description="at most 10,000 IDs"
    )
    admin_telegram_ids: list[TelegramUserId] = Field(
        default_factory=list, max_length=MAX_IDS, description="at most 10,000 IDs"
    )
    max_attempts: int = Field(
        3, ge=1, le=100, description="unknown-actor attempts before a block (1 to 100)"
    )
    setup_action: str = Field(
        "getmyid", min_length=1, max_length=64, description="the command that tells a user's ID"
    )
    rate_limit: int = Field(
        20,
        ge=0,
        le=MAX_COUNT,
        description="requests a known user may make per rate_window_seconds (0: off; at most 1M)",
    )
    rate_window_seconds: int = Field(10, ge=1, le=DAY_SECONDS, description="1 second to 1 day")
    host_grants: dict[GrantKey, HostList] = Field(
        default_factory=dict,
        max_length=MAX_IDS,
        description="account name or Telegram ID -> the only hosts they may act on"
        " (anyone not named: every host; at most 10,000 entries)",
    )


class LockoutSettings(_Section):
    """Counting windows and progressive blocks (durations: 1 second to 10 years)."""

    window_seconds: int = Field(
        3600, ge=1, le=MAX_DURATION_SECONDS, description="failures count inside this window"
    )
    block_seconds: int = Field(
        3600, ge=1, le=MAX_DURATION_SECONDS, description="first block; doubles each time"
    )
    max_block_seconds: int = Field(
        86400, ge=1, le=MAX_DURATION_SECONDS, description="the longest block before permanent"
    )
    permanent_after: int = Field(
        0, ge=0, le=MAX_COUNT, description="block for good after this many blocks (0: never)"
    )
    remember_seconds: int = Field(
        86400,
        ge=1,
        le=MAX_DURATION_SECONDS,
        description="how long back-off levels are remembered after the last try",
    )
    password_max_failures: int = Field(5, ge=1, le=1000, description="1 to 1000")
    totp_max_failures: int = Field(3, ge=1, le=1000, description="1 to 1000")
    ip_max_failures: int = Field(
        50, ge=1, le=MAX_COUNT, description="failures from one IP across accounts (at most 1M)"
    )

    @model_validator(mode="after")
    def _bounds(self) -> LockoutSettings:
        if self.max_block_seconds < self.block_seconds:
            raise ValueError("max_block_seconds must be at least block_seconds")
        return self


class AlertSettings(_Section):
    """Flood control for the admin chat (durations: at most 1 day)."""

    suppress_seconds: int = Field(
        300, ge=0, le=DAY_SECONDS, description="at most one alert per actor this often"
    )
    digest_above_per_minute: int = Field(
        20,
        ge=1,
        le=MAX_COUNT,
        description=(
            "beyond this many alerts a minute from one source (the hub, or one agent), "
            "fold them into a digest"
        ),
    )
    retry_seconds: int = Field(30, ge=1, le=DAY_SECONDS, description="first delivery retry")
    max_retry_seconds: int = Field(
        3600, ge=1, le=DAY_SECONDS, description="retries back off up to this"
    )
    give_up_seconds: int = Field(
        DAY_SECONDS,
        ge=MINUTE_SECONDS,
        le=30 * DAY_SECONDS,
        description="stop retrying a recipient this long after the alert (1 minute to 30 days)",
    )


class BindingPolicy(StrEnum):
    """How strictly a session is tied to the address and browser that opened it."""

    STRICT = "strict"
    SUBNET = "subnet"
    OFF = "off"


class SessionSettings(_Section):
    """Session lifetimes and binding (defaults follow OWASP's advice)."""

    idle_seconds: int = Field(1800, ge=30, le=30 * DAY_SECONDS, description="30 seconds to 30 days")
    absolute_seconds: int = Field(
        8 * 3600, ge=60, le=365 * DAY_SECONDS, description="1 minute to 365 days"
    )
    binding: BindingPolicy = BindingPolicy.STRICT
    mfa_fresh_seconds: int = Field(
        600,
        ge=30,
        le=DAY_SECONDS,
        description="how long a passed 2FA check covers critical actions (30 s to 1 day)",
    )
    cleanup_every_seconds: int = Field(300, ge=10, le=DAY_SECONDS, description="10 s to 1 day")


#: The most retired TOTP keys kept.
MAX_PREVIOUS_KEYS = 10


class TotpSettings(_Section):
    """Second-factor parameters."""

    issuer: str = Field(
        "hostwarden", min_length=1, max_length=64, description="shown in authenticator apps"
    )
    encryption_key: SecretStr | None = Field(
        None,
        max_length=MAX_SECRET_LENGTH,
        description="Fernet key that encrypts TOTP secrets at rest",
    )
    previous_keys: list[Annotated[SecretStr, Field(max_length=MAX_SECRET_LENGTH)]] = Field(
        default_factory=list,
        max_length=MAX_PREVIOUS_KEYS,
        description="keys retired by `hostwarden keys rotate`: they still decrypt and match"
        " recovery codes, never encrypt (newest first; at most 10)",
    )
    digits: int = Field(6, ge=6, le=8)
    period: int = Field(30, ge=15, le=120)
    valid_window: int = Field(1, ge=0, le=1)
    recovery_codes: int = Field(10, ge=1, le=20)


class PasswordSettings(_Section):
    """argon2id cost; the floor is OWASP's minimum (m=19 MiB, t=2, p=1)."""

    time_cost: int = Field(2, ge=2, le=20, description="2 to 20 passes")
    memory_kib: int = Field(19456, ge=19456, le=1_048_576, description="19 MiB to 1 GiB")
    parallelism: int = Field(1, ge=1, le=16, description="1 to 16 lanes")
    min_length: int = Field(
        8, ge=1, le=1024, description="1 to 1024 (longer passwords are refused anyway)"
    )
