"""The alert outbox on an SQLite file: its writes in the decision store's batches.

Through SQLAlchemy (aiosqlite), a claim or settlement was a transaction of five statements, each
a hop to the driver's thread and back: it held SQLite's write lock across as many turns of the
event loop, which under a flood of updates took up to 0.7 s, and every decision batch waited
for it. Here each write is a function of the open transaction, with no await, handed to
:meth:`.SqliteDecisions.write`: it runs on the loop inside a decision batch (``BEGIN IMMEDIATE``
on the standard library connection) and commits with it, so the lock is held only for the few
statements' microseconds. The rules are :mod:`hostwarden.storage.delivery`'s, as on every
backend; the rows are the schema's, as SQLAlchemy stores them (:mod:`.sqlite_rows`). Reading
what is due takes no lock and stays with :class:`.SqlOutbox`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from hostwarden.storage.base import Delivery, OutboxMessage, Outcome
from hostwarden.storage.delivery import claimed, next_look, settled
from hostwarden.storage.sql.outbox import SqlOutbox
from hostwarden.storage.sql.sqlite_rows import stamp, unstamp

if TYPE_CHECKING:
    from hostwarden.storage.sql.db import Database
    from hostwarden.storage.sql.sqlite_decisions import SqliteDecisions

_PUT = "INSERT INTO outbox (created_at, text, next_attempt_at, count) VALUES (?, ?, ?, 1)"
_FOLD = (
    "INSERT INTO outbox (created_at, text, next_attempt_at, bucket, count) "
    "VALUES (?, ?, ?, ?, 1) ON CONFLICT (bucket) DO UPDATE SET count = outbox.count + 1"
)
_EXISTS = "SELECT 1 FROM outbox WHERE id = ?"
_DELIVERIES = (
    "SELECT recipient, attempts, next_attempt_at, delivered_at, gave_up_at "
    "FROM outbox_deliveries WHERE message_id = ?"
)
_PUT_DELIVERY = (
    "INSERT INTO outbox_deliveries "
    "(message_id, recipient, attempts, next_attempt_at, delivered_at, gave_up_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id, recipient) DO UPDATE SET "
    "attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, "
    "delivered_at = excluded.delivered_at, gave_up_at = excluded.gave_up_at"
)
_NEXT_LOOK = "UPDATE outbox SET next_attempt_at = ? WHERE id = ?"
_FORGET_DELIVERIES = "DELETE FROM outbox_deliveries WHERE message_id = ?"
_REMOVE = "DELETE FROM outbox WHERE id = ? AND count <= ?"
_REMAINDER = "UPDATE outbox SET count = count - ?, created_at = ?, next_attempt_at = ? WHERE id = ?"


class SqliteOutbox:
    """:class:`~hostwarden.storage.base.OutboxStore` on an SQLite file (see the module)."""

    def __init__(self, db: Database, writer: SqliteDecisions) -> None:
        self._reads = SqlOutbox(db)
        self._writer = writer

    async def put(self, text: str, now: datetime) -> None:
        at = stamp(now)
        await self._writer.write(lambda conn: conn.execute(_PUT, (at, text, at)))

    async def fold(self, bucket: str, text: str, now: datetime, deliver_at: datetime) -> None:
        values = (stamp(now), text, stamp(deliver_at), bucket)
        await self._writer.write(lambda conn: conn.execute(_FOLD, values))

    async def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        return await self._reads.due(now, limit)

    async def claim(
        self, message_id: int, recipient: str, now: datetime, retry_at: datetime
    ) -> bool:
        return await self._writer.write(
            lambda conn: _claim(conn, message_id, recipient, now, retry_at)
        )

    async def settle(
        self,
        message_id: int,
        recipient: str,
        outcome: Outcome,
        now: datetime,
        recipients: Sequence[str],
        seen: int = 1,
    ) -> bool:
        names = tuple(recipients)
        return await self._writer.write(
            lambda conn: _settle(conn, message_id, recipient, outcome, now, names, seen)
        )


def _claim(
    conn: sqlite3.Connection, message_id: int, recipient: str, now: datetime, retry_at: datetime
) -> bool:
    if conn.execute(_EXISTS, (message_id,)).fetchone() is None:
        return False  # delivered and removed meanwhile
    new = claimed(_deliveries(conn, message_id).get(recipient), recipient, now, retry_at)
    if new is None:
        return False
    _write(conn, message_id, new)
    return True


def _settle(
    conn: sqlite3.Connection,
    message_id: int,
    recipient: str,
    outcome: Outcome,
    now: datetime,
    recipients: Sequence[str],
    seen: int,
) -> bool:
    if conn.execute(_EXISTS, (message_id,)).fetchone() is None:
        return False
    deliveries = _deliveries(conn, message_id)
    new = settled(deliveries.get(recipient), recipient, outcome, now)
    if new is not None:
        _write(conn, message_id, new)
        deliveries[recipient] = new
    look = next_look(deliveries, recipients, now)
    if look is not None:
        conn.execute(_NEXT_LOOK, (stamp(look), message_id))
    else:  # everyone has it: removed, unless folds raised its count past what was sent
        conn.execute(_FORGET_DELIVERIES, (message_id,))
        if conn.execute(_REMOVE, (message_id, seen)).rowcount == 0:
            conn.execute(_REMAINDER, (seen, stamp(now), stamp(now), message_id))
    return new is not None


def _deliveries(conn: sqlite3.Connection, message_id: int) -> dict[str, Delivery]:
    found: dict[str, Delivery] = {}
    for recipient, attempts, next_at, delivered, gave_up in conn.execute(
        _DELIVERIES, (message_id,)
    ):
        next_attempt_at = unstamp(next_at)
        assert next_attempt_at is not None
        found[recipient] = Delivery(
            recipient, attempts, next_attempt_at, unstamp(delivered), unstamp(gave_up)
        )
    return found


def _write(conn: sqlite3.Connection, message_id: int, delivery: Delivery) -> None:
    values = (
        message_id,
        delivery.recipient,
        delivery.attempts,
        stamp(delivery.next_attempt_at),
        stamp(delivery.delivered_at),
        stamp(delivery.gave_up_at),
    )
    conn.execute(_PUT_DELIVERY, values)
