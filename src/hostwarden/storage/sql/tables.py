"""The schema. Alembic migrations under ``migrations/`` create exactly this (a test checks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC as a naive timestamp; reads it back timezone-aware."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("username_key", String(64), nullable=False, unique=True),
    Column("roles", String(200), nullable=False, default=""),
    Column("password_hash", Text, nullable=True),
    Column("locked", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=True),
)

telegram_ids = Table(
    "user_telegram_ids",
    metadata,
    Column("telegram_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Index("ix_user_telegram_ids_user_id", "user_id"),
)

counters = Table(
    "counters",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("level", Integer, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("last_alert", UTCDateTime, nullable=True),
    # No index on last_seen: every counted request rewrites it (migration 0005).
)

blocks = Table(
    "blocks",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("until", UTCDateTime, nullable=True),
    Column("reason", String(200), nullable=False),
    Column("level", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigId, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("mfa_at", UTCDateTime, nullable=True),
    Index("ix_sessions_user_id", "user_id"),
)

totp_factors = Table(
    "totp_factors",
    metadata,
    Column("user_id", BigId, primary_key=True, autoincrement=False),
    Column("secret_encrypted", Text, nullable=False),
    Column("confirmed", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

totp_steps = Table(
    "totp_steps",
    metadata,
    Column("user_id", BigId, primary_key=True, autoincrement=False),
    Column("step", BigInteger, primary_key=True, autoincrement=False),
    Column("used_at", UTCDateTime, nullable=False),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("user_id", BigId, primary_key=True, autoincrement=False),
    Column("code_hash", String(64), primary_key=True),
)

elevations = Table(
    "elevations",
    metadata,
    Column("user_id", BigId, primary_key=True, autoincrement=False),
    Column("channel", String(32), primary_key=True),
    Column("granted_at", UTCDateTime, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(300), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_kind_id", "kind", "id"),
    Index("ix_audit_events_actor_id", "actor", "id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("text", Text, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("bucket", String(100), nullable=True, unique=True),
    Column("count", Integer, nullable=False, default=1),
    Index("ix_outbox_next_attempt_at", "next_attempt_at"),
)

# One row per (message, recipient) tried: recipients are names such as "telegram:<chat id>".
outbox_deliveries = Table(
    "outbox_deliveries",
    metadata,
    Column(
        "message_id",
        BigId,
        ForeignKey("outbox.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("recipient", String(100), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("gave_up_at", UTCDateTime, nullable=True),
)

from hostwarden.storage.sql import fleet_tables as fleet_tables  # noqa: E402  (same metadata)
from hostwarden.storage.sql import pending_tables as pending_tables  # noqa: E402  (same metadata)
