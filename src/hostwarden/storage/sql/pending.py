"""The SQL pending entries and conversations (tables in :mod:`.pending_tables`).

``take`` is one ``DELETE ... RETURNING``: on PostgreSQL a second deleter waits for the first's
row lock and then finds nothing; on SQLite the write lock serialises them. Either way one caller,
in one process, gets the entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, select, update

from hostwarden.storage.pending import Conversation, Pending
from hostwarden.storage.sql.db import Database
from hostwarden.storage.sql.pending_tables import conversations, pending

EMPTY = "{}"


def _entry(row: Any) -> Pending:
    return Pending(row.kind, row.key, row.owner, row.payload, row.expires_at)


class SqlPending:
    """Single-use entries in the ``pending`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, entry: Pending, now: datetime) -> bool:
        p = pending.c
        values = {
            "kind": entry.kind,
            "key": entry.key,
            "owner": entry.owner,
            "payload": entry.payload,
            "expires_at": entry.expires_at,
        }
        statement = (
            self._db.insert(pending)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["kind", "key"],
                set_={k: v for k, v in values.items() if k not in ("kind", "key")},
                where=p.expires_at <= now,  # only an expired entry is replaced
            )
        )
        async with self._db.write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def peek(self, kind: str, key: str, now: datetime) -> Pending | None:
        p = pending.c
        query = select(pending).where(p.kind == kind, p.key == key, p.expires_at > now)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return _entry(row) if row is not None else None

    async def take(self, kind: str, key: str, owner: str, now: datetime) -> Pending | None:
        p = pending.c
        statement = (
            delete(pending)
            .where(p.kind == kind, p.key == key, p.owner == owner, p.expires_at > now)
            .returning(*pending.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(statement)).first()
        return _entry(row) if row is not None else None

    async def renew(self, entry: Pending, now: datetime) -> bool:
        p = pending.c
        statement = (
            update(pending)
            .where(
                p.kind == entry.kind, p.key == entry.key, p.owner == entry.owner,
                p.expires_at > now,
            )
            .values(payload=entry.payload, expires_at=entry.expires_at)
        )  # fmt: skip
        async with self._db.write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def purge(self, now: datetime) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(delete(pending).where(pending.c.expires_at <= now))
        return int(result.rowcount or 0)


class SqlConversations:
    """aiogram's FSM records in the ``conversations`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str, now: datetime) -> Conversation | None:
        c = conversations.c
        query = select(c.state, c.data).where(c.key == key, c.expires_at > now)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return Conversation(row.state, row.data) if row is not None else None

    async def set_state(
        self, key: str, state: str | None, now: datetime, expires_at: datetime
    ) -> None:
        c = conversations.c
        fresh = c.expires_at <= now  # an expired record's data starts again empty
        await self._write(
            key,
            {"state": state, "data": EMPTY, "expires_at": expires_at},
            {"state": state, "expires_at": expires_at, "data": case((fresh, EMPTY), else_=c.data)},
        )

    async def set_data(self, key: str, data: str, now: datetime, expires_at: datetime) -> None:
        c = conversations.c
        fresh = c.expires_at <= now
        await self._write(
            key,
            {"state": None, "data": data, "expires_at": expires_at},
            {"data": data, "expires_at": expires_at, "state": case((fresh, None), else_=c.state)},
        )

    async def purge(self, now: datetime) -> int:
        c = conversations.c
        async with self._db.write() as conn:
            result = await conn.execute(delete(conversations).where(c.expires_at <= now))
        return int(result.rowcount or 0)

    async def _write(self, key: str, inserted: dict[str, Any], updated: dict[str, Any]) -> None:
        c = conversations.c
        statement = (
            self._db.insert(conversations)
            .values(key=key, **inserted)
            .on_conflict_do_update(index_elements=["key"], set_=updated)
        )
        empty = and_(c.key == key, c.state.is_(None), c.data == EMPTY)
        async with self._db.write() as conn:
            await conn.execute(statement)
            await conn.execute(delete(conversations).where(empty))
