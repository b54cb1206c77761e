"""Engines, transactions and the few dialect differences the repositories need.

Every transaction reports to the store's :class:`~hostwarden.core.health.StoreHealth`: a failure
that means the database is lost (see :mod:`.availability`) marks the store unavailable and drops
the connection pool, so that the next call connects afresh and a database that is back is used
again without a restart; a committed write ends the outage.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hostwarden.core.health import StoreHealth
from hostwarden.errors import ConfigError, StorageError
from hostwarden.storage.sql.availability import SqliteFile, unavailable_reason
from hostwarden.storage.sql.sqlite_link import WAL_SIZE_LIMIT


def normalise_url(url: str) -> str:
    """A SQLAlchemy async URL: a plain path means an SQLite file; sync drivers become async."""
    if "://" not in url:
        return f"sqlite+aiosqlite:///{Path(url).expanduser().resolve()}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"not a database URL or file path: {url.split('@')[-1]!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ConfigError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    return parsed.render_as_string(hide_password=False)


def _sqlite_events(engine: AsyncEngine, file: SqliteFile | None) -> None:
    @event.listens_for(engine.sync_engine, "do_connect")
    def _on_do_connect(_dialect: Any, _record: Any, cargs: list[Any], cparams: Any) -> None:
        # Once started, never create the file: a deleted database must stay missing (and the
        # store closed) until it is restored, not come back empty, forgetting every block.
        if file is not None and file.must_exist:
            cargs[:1] = [file.uri]
            cparams["uri"] = True

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so that BEGIN IMMEDIATE is ours to send.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.close()
        if file is not None:
            file.connected()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take SQLite's write lock up front: a read-modify-write inside the transaction
        # is then atomic across processes. Readers stay in autocommit: each SELECT sees one
        # consistent snapshot, and skipping BEGIN saves a round trip through the driver thread.
        if not conn.get_execution_options().get("hostwarden_readonly", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One async engine plus ``write()`` and ``read()`` transactions, reporting to ``health``.

    ``monotonic`` times how long an SQLite file check holds (:class:`SqliteFile`; tests pass
    their own clock's)."""

    def __init__(
        self,
        url: str,
        pool_size: int = 5,
        health: StoreHealth | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = normalise_url(url)
        self.health = health or StoreHealth()
        self.file: SqliteFile | None = None
        self._live = False
        sqlite_file = make_url(self.url).get_backend_name() == "sqlite"
        if sqlite_file:
            database = make_url(self.url).database
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                self.file = SqliteFile(Path(database), monotonic)
            self.engine = create_async_engine(self.url, connect_args={"timeout": 30})
            _sqlite_events(self.engine, self.file)
        else:
            self.engine = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
        self.dialect = "sqlite" if sqlite_file else "postgresql"

    def started(self) -> None:
        """The store is up: from now on a lost database is an outage, reported to ``health``.

        An SQLite file must then exist, be the same file and be writable to be used: a deleted
        or read-only file fails every call (closed) until it is restored, instead of being
        silently recreated empty. Before this, failures are start-up errors for the caller.
        """
        self._live = True
        if self.file is not None:
            self.file.must_exist = True

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that may write; it holds SQLite's write lock from its start."""
        await self._check_file()
        try:
            async with self.engine.begin() as conn:
                yield conn
        except Exception as exc:
            await self._failed(exc)
            raise
        self.health.ok()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads, in autocommit mode (no BEGIN/COMMIT round trips)."""
        await self._check_file()
        try:
            async with self.engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                else:
                    conn = await conn.execution_options(hostwarden_readonly=True)
                yield conn
        except Exception as exc:
            await self._failed(exc)
            raise

    async def _check_file(self) -> None:
        if self.file is None:
            return
        reason, replaced = self.file.problem()
        if (replaced or reason is not None) and not self.file.refused:
            # Pooled connections still hold the old (deleted or replaced) file open.
            await self._dispose_quietly()
        if reason is not None:
            self._report(reason)
            raise StorageError(f"store unavailable: {reason}")

    async def _failed(self, exc: Exception) -> None:
        reason = unavailable_reason(exc)
        if reason is None:
            return
        self._report(reason)
        # Connections may be broken (a server restarted) or hold a lost file: start afresh.
        await self._dispose_quietly()

    def _report(self, reason: str) -> None:
        if self._live:
            self.health.failed(reason)

    async def _dispose_quietly(self) -> None:
        with contextlib.suppress(Exception):  # best effort: the store's own error matters more
            await self.engine.dispose()

    def insert(self, table: Table) -> Any:
        """A dialect insert that supports ``on_conflict_do_*``."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def upsert(self, table: Table, values: dict[str, Any], keys: Sequence[str]) -> Any:
        """``INSERT ... ON CONFLICT (keys) DO UPDATE`` with ``values``."""
        statement = self.insert(table).values(**values)
        updates = {k: v for k, v in values.items() if k not in keys}
        return statement.on_conflict_do_update(index_elements=list(keys), set_=updates)

    async def dispose(self) -> None:
        await self.engine.dispose()
