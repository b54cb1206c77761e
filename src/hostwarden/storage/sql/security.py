"""SQL repositories for counters, blocks and the audit trail (the outbox: outbox.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hostwarden.storage.base import (
    AuditEvent,
    AuditQuery,
    Block,
    CounterRule,
    HitResult,
)
from hostwarden.storage.counting import CounterState, apply_hit, block_event
from hostwarden.storage.sql import tables as t
from hostwarden.storage.sql.db import Database


def _block(row: Any) -> Block:
    return Block(row.key, row.until, row.reason, row.level, row.created_at)


async def _put_block(db: Database, conn: AsyncConnection, block: Block) -> None:
    values = {
        "key": block.key,
        "until": block.until,
        "reason": block.reason,
        "level": block.level,
        "created_at": block.created_at,
    }
    await conn.execute(db.upsert(t.blocks, values, ["key"]))


async def _append(conn: AsyncConnection, event: AuditEvent) -> AuditEvent:
    """Insert ``event`` inside the caller's transaction; returns it with its new id."""
    statement = (
        t.audit_events.insert()
        .values(
            at=event.at,
            kind=event.kind,
            actor=event.actor[:300],
            subject=event.subject[:300],
            detail=event.detail,
        )
        .returning(t.audit_events.c.id)
    )
    new_id = (await conn.execute(statement)).scalar_one()
    return AuditEvent(event.kind, event.at, event.actor, event.subject, event.detail, new_id)


PRUNE_CHUNK = 5000  # counters looked at per transaction when pruning
PRUNE_PAUSE_SECONDS = 0.005  # between two chunks


class SqlCounters:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def hit(self, key: str, now: datetime, rule: CounterRule) -> HitResult:
        c = t.counters.c
        # Insert a fresh row, or "update" an existing one to itself: either way the row comes
        # back, and PostgreSQL holds its lock until commit, so the read-decide-write below is
        # one atomic step (SQLite: BEGIN IMMEDIATE already holds the database's write lock).
        claim = (
            self._db.insert(t.counters)
            .values(key=key, count=0, window_start=now, level=0, last_seen=now, last_alert=None)
            .on_conflict_do_update(index_elements=["key"], set_={"key": key})
            .returning(*t.counters.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(claim)).one()
            block_row = (await conn.execute(select(t.blocks).where(t.blocks.c.key == key))).first()
            state = CounterState(
                row._mapping["count"], row.window_start, row.level, row.last_seen, row.last_alert
            )
            block = _block(block_row) if block_row else None
            result, new_state, new_block = apply_hit(key, state, block, now, rule)
            if new_state is not None:
                await conn.execute(
                    update(t.counters)
                    .where(c.key == key)
                    .values(
                        count=new_state.count,
                        window_start=new_state.window_start,
                        level=new_state.level,
                        last_seen=new_state.last_seen,
                        last_alert=new_state.last_alert,
                    )
                )
            if new_block is not None:
                await _put_block(self._db, conn, new_block)
                event = await _append(conn, block_event(new_block))
                result = dataclasses.replace(result, event=event)
        return result

    async def reset(self, key: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(t.counters).where(t.counters.c.key == key))

    async def prune(self, now: datetime, window_seconds: int, remember_seconds: int) -> int:
        """Drop the stale counters, ``PRUNE_CHUNK`` keys per transaction.

        ``last_seen`` has no index (every counted request rewrites it), so the rows are walked
        in key order, a chunk at a time: on SQLite each chunk holds the write lock for a few
        milliseconds, where one statement over a million counters held it for a quarter of a
        second and every decision waited.
        """
        c = t.counters.c
        stale = ((c.level == 0) & (c.last_seen <= now - timedelta(seconds=window_seconds))) | (
            c.last_seen <= now - timedelta(seconds=remember_seconds)
        )
        dropped = 0
        after: str | None = None
        while True:
            chunk = select(c.key).order_by(c.key).offset(PRUNE_CHUNK - 1).limit(1)
            async with self._db.read() as conn:
                last = (
                    await conn.execute(chunk if after is None else chunk.where(c.key > after))
                ).scalar_one_or_none()
            statement = delete(t.counters).where(stale)
            if after is not None:
                statement = statement.where(c.key > after)
            if last is not None:
                statement = statement.where(c.key <= last)
            async with self._db.write() as conn:
                dropped += (await conn.execute(statement)).rowcount
            if last is None:
                return dropped
            after = last
            # Free for a while: another process polls for SQLite's lock (there is no queue)
            # and would otherwise find it taken by the next chunk, time after time.
            await asyncio.sleep(PRUNE_PAUSE_SECONDS)

    async def size(self) -> int:
        async with self._db.read() as conn:
            return (await conn.execute(select(func.count()).select_from(t.counters))).scalar_one()


class SqlBlocks:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def active(self, keys: tuple[str, ...], now: datetime) -> Block | None:
        b = t.blocks.c
        query = (
            select(t.blocks).where(b.key.in_(keys), (b.until.is_(None)) | (b.until > now)).limit(1)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return _block(row) if row else None

    async def put(self, block: Block, event: AuditEvent) -> AuditEvent:
        async with self._db.write() as conn:
            await _put_block(self._db, conn, block)
            return await _append(conn, event)

    async def remove(self, key: str, event: AuditEvent) -> AuditEvent | None:
        async with self._db.write() as conn:
            removed = await conn.execute(delete(t.blocks).where(t.blocks.c.key == key))
            return await _append(conn, event) if removed.rowcount > 0 else None

    async def list(self, now: datetime) -> list[Block]:
        b = t.blocks.c
        query = select(t.blocks).where((b.until.is_(None)) | (b.until > now)).order_by(b.created_at)
        async with self._db.read() as conn:
            return [_block(row) for row in await conn.execute(query)]


class SqlAudit:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, event: AuditEvent) -> AuditEvent:
        async with self._db.write() as conn:
            return await _append(conn, event)

    async def query(self, query: AuditQuery) -> list[AuditEvent]:
        a = t.audit_events.c
        statement = select(t.audit_events).order_by(a.id.desc()).limit(query.limit)
        if query.before_id is not None:
            statement = statement.where(a.id < query.before_id)
        if query.since is not None:
            statement = statement.where(a.at >= query.since)
        if query.until is not None:
            statement = statement.where(a.at < query.until)
        if query.kind is not None:
            statement = statement.where(a.kind == query.kind)
        if query.actor is not None:
            statement = statement.where(a.actor == query.actor)
        async with self._db.read() as conn:
            return [
                AuditEvent(r.kind, r.at, r.actor, r.subject, dict(r.detail), r.id)
                for r in await conn.execute(statement)
            ]
