"""The fleet's tables, on the schema's one metadata (``tables.py`` imports this module).

Migration ``0003`` creates them; ``test_migrations_build_exactly_the_declared_schema`` checks that
the two agree.
"""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from hostwarden.storage.sql.tables import UTCDateTime, metadata

# One row per enrolled agent; the hub trusts exactly the certificate whose fingerprint is here.
fleet_hosts = Table(
    "fleet_hosts",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("url", String(300), nullable=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("serial", String(40), nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=True),
    Column("agent_version", String(64), nullable=True),
)

# Pending enrolment tokens: the SHA-256 of the secret only, one token per host name.
fleet_enrolments = Table(
    "fleet_enrolments",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("url", String(300), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
