"""Guard decisions on the memory store: read, evaluate and write with no await in between.

On one event loop nothing else runs between the first read and the last write, which makes the
step as atomic as a transaction is on the SQL stores.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

from hostwarden.core.identity import User
from hostwarden.storage.base import Block
from hostwarden.storage.counting import CounterState

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan, DecisionResult
    from hostwarden.storage.memory import MemoryStore


class _Reads:
    def __init__(self, store: MemoryStore, now: datetime) -> None:
        self._store = store
        self._now = now

    def block(self, keys: tuple[str, ...]) -> Block | None:
        return self._store.blocks.find(keys, self._now)

    def user(self, telegram_id: int | None, username: str | None) -> User | None:
        return self._store.users.find(telegram_id, username)

    def counter(self, key: str) -> CounterState | None:
        return self._store.counters.get(key)

    def factor(self, user_id: int, channel: str) -> tuple[bool, datetime | None]:
        return self._store.totp.enrolled(user_id), self._store.elevations.at(user_id, channel)


class MemoryDecisions:
    """The memory store's :class:`~hostwarden.storage.base.DecisionStore`."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def decide(self, plan: DecisionPlan) -> DecisionResult:
        result = plan.evaluate(_Reads(self._store, plan.now))
        writes = result.writes
        if writes.counter is not None:
            self._store.counters.keep(*writes.counter)
        if writes.block is not None:
            self._store.blocks.keep(writes.block)
        events = [self._store.audit.add(event) for event in writes.events]
        for entry in writes.outbox:
            # The memory outbox never suspends: still no other task runs in between.
            if entry.bucket is not None and entry.deliver_at is not None:
                await self._store.outbox.fold(entry.bucket, entry.text, plan.now, entry.deliver_at)
            else:
                await self._store.outbox.put(entry.text, plan.now)
        return dataclasses.replace(result, writes=dataclasses.replace(writes, events=events))
