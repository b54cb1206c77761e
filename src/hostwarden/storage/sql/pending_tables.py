"""Tables for what waits for a user's next step (see :mod:`hostwarden.storage.pending`).

Declared on the schema's one ``metadata`` (``tables.py`` imports this module at its end), so
Alembic's checks and ``migrations/versions/0004_pending.py`` cover them.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text

from hostwarden.storage.pending import KEY_LENGTH
from hostwarden.storage.sql.tables import UTCDateTime, metadata

# Single-use entries: confirmation nonces, parked updates (encrypted), answered console questions.
pending = Table(
    "pending",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("owner", String(KEY_LENGTH), nullable=False),
    Column("payload", Text, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_pending_expires_at", "expires_at"),
)

# aiogram's FSM: one row per chat and user (the key aiogram's StorageKey is written as).
conversations = Table(
    "conversations",
    metadata,
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("state", String(100), nullable=True),
    Column("data", Text, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_conversations_expires_at", "expires_at"),
)
