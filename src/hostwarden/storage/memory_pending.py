"""The memory store's pending entries and conversations: dicts, bounded, oldest evicted first.

Each method runs without awaiting in between, so on one event loop every call is atomic.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from hostwarden.storage.pending import Conversation, Pending

EMPTY = "{}"


class MemoryPending:
    """Entries by (kind, key); at most ``capacity``, the oldest dropped to make room."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._entries: OrderedDict[tuple[str, str], Pending] = OrderedDict()
        self._capacity = capacity

    async def create(self, entry: Pending, now: datetime) -> bool:
        name = (entry.kind, entry.key)
        if self._live(name, now) is not None:
            return False
        while len(self._entries) >= self._capacity:
            self._entries.popitem(last=False)
        self._entries[name] = entry
        return True

    async def peek(self, kind: str, key: str, now: datetime) -> Pending | None:
        return self._live((kind, key), now)

    async def take(self, kind: str, key: str, owner: str, now: datetime) -> Pending | None:
        entry = self._live((kind, key), now)
        if entry is None or entry.owner != owner:
            return None
        del self._entries[(kind, key)]
        return entry

    async def renew(self, entry: Pending, now: datetime) -> bool:
        name = (entry.kind, entry.key)
        held = self._live(name, now)
        if held is None or held.owner != entry.owner:
            return False
        self._entries[name] = entry
        return True

    async def purge(self, now: datetime) -> int:
        gone = [name for name, entry in self._entries.items() if entry.expires_at <= now]
        for name in gone:
            del self._entries[name]
        return len(gone)

    def _live(self, name: tuple[str, str], now: datetime) -> Pending | None:
        entry = self._entries.get(name)
        if entry is not None and entry.expires_at <= now:
            del self._entries[name]
            return None
        return entry


class MemoryConversations:
    """Records by key: (state, data, deadline); at most ``capacity``, the oldest dropped."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._rows: OrderedDict[str, tuple[str | None, str, datetime]] = OrderedDict()
        self._capacity = capacity

    async def get(self, key: str, now: datetime) -> Conversation | None:
        row = self._rows.get(key)
        if row is None or row[2] <= now:
            return None
        return Conversation(row[0], row[1])

    async def set_state(
        self, key: str, state: str | None, now: datetime, expires_at: datetime
    ) -> None:
        current = await self.get(key, now)
        self._keep(key, state, current.data if current else EMPTY, expires_at)

    async def set_data(self, key: str, data: str, now: datetime, expires_at: datetime) -> None:
        current = await self.get(key, now)
        self._keep(key, current.state if current else None, data, expires_at)

    async def purge(self, now: datetime) -> int:
        gone = [key for key, row in self._rows.items() if row[2] <= now]
        for key in gone:
            del self._rows[key]
        return len(gone)

    def _keep(self, key: str, state: str | None, data: str, expires_at: datetime) -> None:
        self._rows.pop(key, None)
        if state is None and data == EMPTY:
            return
        while len(self._rows) >= self._capacity:
            self._rows.popitem(last=False)
        self._rows[key] = (state, data, expires_at)
