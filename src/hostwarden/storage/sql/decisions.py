"""Guard decisions on any SQL store through SQLAlchemy: the reads first, then one evaluation.

Used for an SQLite database in memory (files have :mod:`.sqlite_decisions`, PostgreSQL has
:mod:`.pg_decisions`). Inside one transaction the decision's one counter row is claimed with
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (PostgreSQL then holds its row lock until the
commit, so two processes cannot both pass a limit), the other reads follow, the plan is evaluated
over what was read, and every write commits together before the caller is answered.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hostwarden.core.identity import User
from hostwarden.storage.base import AuditEvent, Block
from hostwarden.storage.counting import CounterState
from hostwarden.storage.sql import tables as t
from hostwarden.storage.sql.accounts import SqlUsers
from hostwarden.storage.sql.db import Database
from hostwarden.storage.sql.security import _append, _block, _put_block

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan, DecisionResult


@dataclasses.dataclass(slots=True)
class _Read:
    """What was read for one plan, handed to its evaluation."""

    block_found: Block | None
    stored: User | None
    counters: dict[str, CounterState | None]
    enrolled: bool = False
    elevated_at: datetime | None = None

    def block(self, keys: tuple[str, ...]) -> Block | None:
        return self.block_found

    def user(self, telegram_id: int | None, username: str | None) -> User | None:
        return self.stored

    def counter(self, key: str) -> CounterState | None:
        return self.counters.get(key)

    def factor(self, user_id: int, channel: str) -> tuple[bool, datetime | None]:
        return self.enrolled, self.elevated_at


class SqlDecisions:
    """A :class:`~hostwarden.storage.base.DecisionStore` over :class:`~.db.Database`."""

    def __init__(self, db: Database, users: SqlUsers) -> None:
        self._db = db
        self._users = users

    async def decide(self, plan: DecisionPlan) -> DecisionResult:
        async with self._db.write() as conn:
            return await self.decide_in(conn, plan)

    async def decide_in(self, conn: AsyncConnection, plan: DecisionPlan) -> DecisionResult:
        """Read, evaluate and write ``plan`` inside ``conn``'s open transaction."""
        read = await self._read(conn, plan)
        result = plan.evaluate(read)
        events = await self._write(conn, plan, result)
        return dataclasses.replace(result, writes=dataclasses.replace(result.writes, events=events))

    async def _read(self, conn: AsyncConnection, plan: DecisionPlan) -> _Read:
        stored = await self._user(conn, plan)
        key = plan.counter_key(stored)
        counters: dict[str, CounterState | None] = {}
        if key is not None:
            counters[key] = await self._claim(conn, key, plan.now)
        b = t.blocks.c
        keys = plan.block_keys
        block_row = (
            (
                await conn.execute(
                    select(t.blocks)
                    .where(b.key.in_(keys), b.until.is_(None) | (b.until > plan.now))
                    .limit(1)
                )
            ).first()
            if keys
            else None
        )
        read = _Read(_block(block_row) if block_row else None, stored, counters)
        if stored is not None and plan.wants_factor:
            f, e = t.totp_factors.c, t.elevations.c
            confirmed = (
                await conn.execute(select(f.confirmed).where(f.user_id == stored.id))
            ).scalar_one_or_none()
            granted = (
                await conn.execute(
                    select(e.granted_at).where(e.user_id == stored.id, e.channel == plan.channel)
                )
            ).scalar_one_or_none()
            read.enrolled, read.elevated_at = bool(confirmed), granted
        return read

    async def _user(self, conn: AsyncConnection, plan: DecisionPlan) -> User | None:
        actor = plan.actor
        u = t.users.c
        if actor.telegram_id is not None:
            query = (
                select(t.users)
                .join(t.telegram_ids, t.telegram_ids.c.user_id == u.id)
                .where(t.telegram_ids.c.telegram_id == actor.telegram_id)
            )
        elif actor.username is not None:
            query = select(t.users).where(u.username_key == actor.username.casefold())
        else:
            return None
        row = (await conn.execute(query)).first()
        return await self._users.load(conn, row) if row is not None else None

    async def _claim(self, conn: AsyncConnection, key: str, now: datetime) -> CounterState | None:
        # A fresh row or the existing one comes back locked until commit (PostgreSQL); a
        # fresh row is a zero count, which the counting rule treats like no row at all.
        claim = (
            self._db.insert(t.counters)
            .values(key=key, count=0, window_start=now, level=0, last_seen=now, last_alert=None)
            .on_conflict_do_update(index_elements=["key"], set_={"key": key})
            .returning(*t.counters.c)
        )
        row = (await conn.execute(claim)).one()
        return CounterState(
            row._mapping["count"], row.window_start, row.level, row.last_seen, row.last_alert
        )

    async def _write(
        self, conn: AsyncConnection, plan: DecisionPlan, result: DecisionResult
    ) -> list[AuditEvent]:
        writes = result.writes
        if writes.counter is not None:
            key, state = writes.counter
            values: dict[str, Any] = {
                "key": key,
                "count": state.count,
                "window_start": state.window_start,
                "level": state.level,
                "last_seen": state.last_seen,
                "last_alert": state.last_alert,
            }
            await conn.execute(self._db.upsert(t.counters, values, ["key"]))
        if writes.block is not None:
            await _put_block(self._db, conn, writes.block)
        events = [await _append(conn, event) for event in writes.events]
        for entry in writes.outbox:
            if entry.bucket is not None and entry.deliver_at is not None:
                statement = (
                    self._db.insert(t.outbox)
                    .values(
                        created_at=plan.now,
                        text=entry.text,
                        next_attempt_at=entry.deliver_at,
                        bucket=entry.bucket,
                        count=1,
                    )
                    .on_conflict_do_update(
                        index_elements=["bucket"], set_={"count": t.outbox.c["count"] + 1}
                    )
                )
            else:
                statement = t.outbox.insert().values(
                    created_at=plan.now, text=entry.text, next_attempt_at=plan.now, count=1
                )
            await conn.execute(statement)
        return events
