"""The SQL alert outbox: messages in ``outbox``, per-recipient state in ``outbox_deliveries``.

A claim or settlement locks its message row first (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite's write transactions hold the database's write lock from BEGIN IMMEDIATE), then reads,
decides with :mod:`hostwarden.storage.delivery` and writes: one atomic step across processes.

Claims take the lock with ``SKIP LOCKED``: a message another sender (another hub replica) is
claiming or settling at that moment is not waited for but left to it, and looked at again on
the next round if it is still due. A claim holds its delivery until ``retry_at``, so while the
claiming sender lives no other one sends it; a sender killed mid-send leaves the claim to run
out, and the delivery is then claimed and sent again (at least once across a crash).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hostwarden.storage.base import Delivery, OutboxMessage, Outcome
from hostwarden.storage.delivery import claimed, next_look, settled
from hostwarden.storage.sql import tables as t
from hostwarden.storage.sql.db import Database


def _delivery(row: Any) -> Delivery:
    return Delivery(
        row.recipient, row.attempts, row.next_attempt_at, row.delivered_at, row.gave_up_at
    )


def _recipient(delivery: Delivery) -> str:
    return delivery.recipient  # sorted in Python: the same order as every backend, any collation


class SqlOutbox:
    """The outbox over one database; every backend follows the same rules."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, text: str, now: datetime) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                t.outbox.insert().values(created_at=now, text=text, next_attempt_at=now, count=1)
            )

    async def fold(self, bucket: str, text: str, now: datetime, deliver_at: datetime) -> None:
        statement = (
            self._db.insert(t.outbox)
            .values(created_at=now, text=text, next_attempt_at=deliver_at, bucket=bucket, count=1)
            .on_conflict_do_update(
                index_elements=["bucket"], set_={"count": t.outbox.c["count"] + 1}
            )
        )
        async with self._db.write() as conn:
            await conn.execute(statement)

    async def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        o, d = t.outbox.c, t.outbox_deliveries.c
        query = select(t.outbox).where(o.next_attempt_at <= now).order_by(o.id).limit(limit)
        async with self._db.read() as conn:
            rows = list(await conn.execute(query))
            found: dict[int, list[Delivery]] = {r.id: [] for r in rows}
            if found:
                deliveries = select(t.outbox_deliveries).where(d.message_id.in_(list(found)))
                for row in await conn.execute(deliveries):
                    found[row.message_id].append(_delivery(row))
        return [
            OutboxMessage(
                r.id,
                r.created_at,
                r.text,
                r.next_attempt_at,
                r.bucket,
                r._mapping["count"],
                tuple(sorted(found[r.id], key=_recipient)),
            )
            for r in rows
        ]

    async def claim(
        self, message_id: int, recipient: str, now: datetime, retry_at: datetime
    ) -> bool:
        async with self._db.write() as conn:
            if not await _lock(conn, message_id, skip_locked=True):
                return False
            current = (await _deliveries(conn, message_id)).get(recipient)
            new = claimed(current, recipient, now, retry_at)
            if new is None:
                return False
            await _write(self._db, conn, message_id, new)
        return True

    async def settle(
        self,
        message_id: int,
        recipient: str,
        outcome: Outcome,
        now: datetime,
        recipients: Sequence[str],
        seen: int = 1,
    ) -> bool:
        async with self._db.write() as conn:
            if not await _lock(conn, message_id):
                return False
            deliveries = await _deliveries(conn, message_id)
            new = settled(deliveries.get(recipient), recipient, outcome, now)
            if new is not None:
                await _write(self._db, conn, message_id, new)
                deliveries[recipient] = new
            look = next_look(deliveries, recipients, now)
            if look is None:
                await _finish(conn, message_id, now, seen)
            else:
                await conn.execute(
                    update(t.outbox).where(t.outbox.c.id == message_id).values(next_attempt_at=look)
                )
        return new is not None


async def _finish(conn: AsyncConnection, message_id: int, now: datetime, seen: int) -> None:
    """Every recipient has the message: remove it, unless folds raised its count past ``seen``
    (what was sent) meanwhile; then it stays with the remainder, due now for everyone."""
    o, d = t.outbox.c, t.outbox_deliveries.c
    await conn.execute(delete(t.outbox_deliveries).where(d.message_id == message_id))
    gone = await conn.execute(delete(t.outbox).where(o.id == message_id, o["count"] <= seen))
    if gone.rowcount == 0:
        await conn.execute(
            update(t.outbox)
            .where(o.id == message_id)
            .values(count=o["count"] - seen, created_at=now, next_attempt_at=now)
        )


async def _lock(conn: AsyncConnection, message_id: int, skip_locked: bool = False) -> bool:
    """Lock the message's row until commit; ``False`` if it is gone (delivered meanwhile) or,
    with ``skip_locked``, held by another transaction right now (SQLite has no row locks: its
    write lock, taken at BEGIN, already keeps every other writer out)."""
    query = (
        select(t.outbox.c.id)
        .where(t.outbox.c.id == message_id)
        .with_for_update(skip_locked=skip_locked)
    )
    return (await conn.execute(query)).first() is not None


async def _deliveries(conn: AsyncConnection, message_id: int) -> dict[str, Delivery]:
    d = t.outbox_deliveries.c
    rows = await conn.execute(select(t.outbox_deliveries).where(d.message_id == message_id))
    return {row.recipient: _delivery(row) for row in rows}


async def _write(db: Database, conn: AsyncConnection, message_id: int, delivery: Delivery) -> None:
    values = {
        "message_id": message_id,
        "recipient": delivery.recipient,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at,
        "gave_up_at": delivery.gave_up_at,
    }
    await conn.execute(db.upsert(t.outbox_deliveries, values, ["message_id", "recipient"]))
