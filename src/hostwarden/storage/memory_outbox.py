"""The memory store's alert outbox: messages and their per-recipient deliveries in dicts.

Each method runs without awaiting in between, so on one event loop every call is atomic.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import datetime

from hostwarden.storage.base import Delivery, OutboxMessage, Outcome
from hostwarden.storage.delivery import claimed, next_look, settled


class MemoryOutbox:
    """Messages by id, digests by bucket, deliveries by message and recipient."""

    def __init__(self) -> None:
        self._rows: dict[int, OutboxMessage] = {}
        self._buckets: dict[str, int] = {}
        self._deliveries: dict[int, dict[str, Delivery]] = {}
        self._ids = itertools.count(1)

    async def put(self, text: str, now: datetime) -> None:
        message_id = next(self._ids)
        self._rows[message_id] = OutboxMessage(message_id, now, text, now)

    async def fold(self, bucket: str, text: str, now: datetime, deliver_at: datetime) -> None:
        existing = self._buckets.get(bucket)
        if existing is not None and existing in self._rows:
            row = self._rows[existing]
            self._rows[existing] = dataclasses.replace(row, count=row.count + 1)
            return
        message_id = next(self._ids)
        self._buckets[bucket] = message_id
        self._rows[message_id] = OutboxMessage(message_id, now, text, deliver_at, bucket=bucket)

    async def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        ready = sorted((m for m in self._rows.values() if m.next_attempt_at <= now), key=_id)
        return [dataclasses.replace(m, deliveries=self._listed(m.id)) for m in ready[:limit]]

    async def claim(
        self, message_id: int, recipient: str, now: datetime, retry_at: datetime
    ) -> bool:
        if message_id not in self._rows:
            return False
        deliveries = self._deliveries.setdefault(message_id, {})
        new = claimed(deliveries.get(recipient), recipient, now, retry_at)
        if new is None:
            return False
        deliveries[recipient] = new
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
        row = self._rows.get(message_id)
        if row is None:
            return False
        deliveries = self._deliveries.setdefault(message_id, {})
        new = settled(deliveries.get(recipient), recipient, outcome, now)
        if new is not None:
            deliveries[recipient] = new
        look = next_look(deliveries, recipients, now)
        if look is None and row.count > seen:  # folded into while it was sent: keep the rest
            self._deliveries.pop(message_id, None)
            self._rows[message_id] = dataclasses.replace(
                row, created_at=now, next_attempt_at=now, count=row.count - seen
            )
        elif look is None:
            self._remove(row)
        else:
            self._rows[message_id] = dataclasses.replace(row, next_attempt_at=look)
        return new is not None

    def _listed(self, message_id: int) -> tuple[Delivery, ...]:
        deliveries = self._deliveries.get(message_id, {})
        return tuple(deliveries[name] for name in sorted(deliveries))

    def _remove(self, row: OutboxMessage) -> None:
        del self._rows[row.id]
        self._deliveries.pop(row.id, None)
        if row.bucket is not None and self._buckets.get(row.bucket) == row.id:
            del self._buckets[row.bucket]


def _id(message: OutboxMessage) -> int:
    return message.id
