"""The SQL store: every repository over one engine; migrations run at ``start()``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from hostwarden.core.health import StoreHealth
from hostwarden.storage.sql.accounts import SqlElevations, SqlSessions, SqlTotp, SqlUsers
from hostwarden.storage.sql.db import Database, normalise_url
from hostwarden.storage.sql.decisions import SqlDecisions
from hostwarden.storage.sql.fleet import SqlEnrolments, SqlHosts
from hostwarden.storage.sql.migrate import upgrade
from hostwarden.storage.sql.outbox import SqlOutbox
from hostwarden.storage.sql.pending import SqlConversations, SqlPending
from hostwarden.storage.sql.pg_decisions import PgDecisions, connect_args
from hostwarden.storage.sql.security import SqlAudit, SqlBlocks, SqlCounters
from hostwarden.storage.sql.sqlite_decisions import SqliteDecisions
from hostwarden.storage.sql.sqlite_outbox import SqliteOutbox
from hostwarden.storage.sql.views import SqlViews

__all__ = ["SqlStore", "normalise_url"]


class SqlStore:
    """SQLite (a file path or ``sqlite:///``) or PostgreSQL (``postgresql://``).

    ``health`` hears when the database is lost and when it is back (one is made if not given);
    ``monotonic`` times how long an SQLite file check holds (tests pass their own clock's).
    """

    def __init__(
        self,
        url: str,
        pool_size: int = 5,
        health: StoreHealth | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = Database(url, pool_size, health, monotonic)
        self.health = self.db.health
        self.users = SqlUsers(self.db)
        self.counters = SqlCounters(self.db)
        self.blocks = SqlBlocks(self.db)
        self.sessions = SqlSessions(self.db)
        self.totp = SqlTotp(self.db)
        self.elevations = SqlElevations(self.db)
        self.audit = SqlAudit(self.db)
        self.outbox: SqlOutbox | SqliteOutbox = SqlOutbox(self.db)
        self.pending = SqlPending(self.db)
        self.conversations = SqlConversations(self.db)
        self.hosts = SqlHosts(self.db)
        self.enrolments = SqlEnrolments(self.db)
        self.decisions: SqliteDecisions | PgDecisions | SqlDecisions
        if self.db.file is not None:
            self.decisions = SqliteDecisions(self.db.file, self.health)
            # The outbox's writes join the decision batches: no lock held across loop turns.
            self.outbox = SqliteOutbox(self.db, self.decisions)
        elif self.db.dialect == "postgresql":
            self.decisions = PgDecisions(connect_args(self.db.engine), self.health)
        else:  # an SQLite database in memory
            self.decisions = SqlDecisions(self.db, self.users)
        # A console request's access work: by the decision store of an SQLite file (in its
        # batches) or of PostgreSQL (asyncpg), else one SQLAlchemy transaction (sql/views.py).
        self.views: SqliteDecisions | PgDecisions | SqlViews = (
            SqlViews(self.db, self.users, self.decisions)
            if isinstance(self.decisions, SqlDecisions)
            else self.decisions
        )

    async def start(self) -> None:
        """Apply pending migrations; from then on an SQLite file is never created again."""
        await upgrade(self.db)
        self.db.started()

    async def close(self) -> None:
        if isinstance(self.decisions, SqliteDecisions):
            await asyncio.to_thread(self.decisions.close)
        elif isinstance(self.decisions, PgDecisions):
            await self.decisions.close()
        await self.db.dispose()
