"""A dict-backed store for tests and single-process use.

Each method runs without awaiting in between, so on one event loop every call is atomic. State is
bounded: counters are pruned and capped, and the audit trail keeps the newest ``audit_capacity``
events.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import OrderedDict, deque
from datetime import datetime, timedelta

from hostwarden.core.health import StoreHealth
from hostwarden.core.identity import User
from hostwarden.errors import Conflict, NotFound
from hostwarden.storage.base import (
    AuditEvent,
    AuditQuery,
    Block,
    CounterRule,
    HitResult,
    SessionRecord,
    TotpFactor,
)
from hostwarden.storage.counting import CounterState, apply_hit, block_event
from hostwarden.storage.memory_decisions import MemoryDecisions
from hostwarden.storage.memory_fleet import MemoryEnrolments, MemoryHosts
from hostwarden.storage.memory_outbox import MemoryOutbox
from hostwarden.storage.memory_pending import MemoryConversations, MemoryPending
from hostwarden.storage.memory_views import MemoryViews


class MemoryUsers:
    def __init__(
        self, sessions: MemorySessions, totp: MemoryTotp, elevations: MemoryElevations
    ) -> None:
        self._by_name: dict[str, User] = {}
        self._ids = itertools.count(1)
        self._sessions = sessions
        self._totp = totp
        self._elevations = elevations

    async def get(self, username: str) -> User | None:
        return self._by_name.get(username.casefold())

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        return self.find(telegram_id, None)

    def find(self, telegram_id: int | None, username: str | None) -> User | None:
        """The account with ``telegram_id``, else named ``username``, without awaiting."""
        if telegram_id is not None:
            return next((u for u in self._by_name.values() if telegram_id in u.telegram_ids), None)
        return self._by_name.get(username.casefold()) if username is not None else None

    async def by_id(self, user_id: int) -> User | None:
        return next((u for u in self._by_name.values() if u.id == user_id), None)

    async def create(self, user: User) -> User:
        key = user.username.casefold()
        if key in self._by_name:
            raise Conflict(f"user {user.username!r} already exists")
        taken = {t for u in self._by_name.values() for t in u.telegram_ids}
        if taken.intersection(user.telegram_ids):
            raise Conflict("that Telegram ID belongs to another user")
        stored = dataclasses.replace(user, id=next(self._ids))
        self._by_name[key] = stored
        return stored

    async def update(self, user: User) -> User:
        key = user.username.casefold()
        if key not in self._by_name:
            raise NotFound(f"no user {user.username!r}")
        others = {t for k, u in self._by_name.items() if k != key for t in u.telegram_ids}
        if others.intersection(user.telegram_ids):
            raise Conflict("that Telegram ID belongs to another user")
        self._by_name[key] = user
        return user

    async def list(self) -> list[User]:
        return sorted(self._by_name.values(), key=lambda u: u.id)

    async def delete(self, user_id: int) -> bool:
        # No await in between: the account and what refers to it go together.
        key = next((k for k, u in self._by_name.items() if u.id == user_id), None)
        if key is None:
            return False
        del self._by_name[key]
        self._sessions.forget(user_id)
        self._totp.forget(user_id)
        self._elevations.forget(user_id)
        return True


class MemoryCounters:
    def __init__(self, blocks: MemoryBlocks, capacity: int) -> None:
        self._rows: OrderedDict[str, CounterState] = OrderedDict()
        self._blocks = blocks
        self._capacity = capacity

    def get(self, key: str) -> CounterState | None:
        return self._rows.get(key)

    def keep(self, key: str, state: CounterState) -> None:
        """Store ``state`` without awaiting (for the memory decisions' atomic step)."""
        self._rows[key] = state
        self._rows.move_to_end(key)
        self._evict()

    async def hit(self, key: str, now: datetime, rule: CounterRule) -> HitResult:
        block = self._blocks.get(key)
        state = self._rows.get(key)
        result, new_state, new_block = apply_hit(key, state, block, now, rule)
        if new_state is not None:
            self.keep(key, new_state)
        if new_block is not None:
            event = self._blocks.store(new_block, block_event(new_block))
            result = dataclasses.replace(result, event=event)
        return result

    def _evict(self) -> None:
        # Under a flood of distinct keys, forget the least recently seen counters first.
        while len(self._rows) > self._capacity:
            self._rows.popitem(last=False)

    async def reset(self, key: str) -> None:
        self._rows.pop(key, None)

    async def prune(self, now: datetime, window_seconds: int, remember_seconds: int) -> int:
        stale = [k for k, s in self._rows.items() if s.stale(now, window_seconds, remember_seconds)]
        for key in stale:
            del self._rows[key]
        return len(stale)

    async def size(self) -> int:
        return len(self._rows)


class MemoryBlocks:
    def __init__(self, audit: MemoryAudit) -> None:
        self._blocks: dict[str, Block] = {}
        self._audit = audit

    def get(self, key: str) -> Block | None:
        return self._blocks.get(key)

    def store(self, block: Block, event: AuditEvent) -> AuditEvent:
        """Keep ``block`` and append its event, without awaiting: one atomic step."""
        self._blocks[block.key] = block
        return self._audit.add(event)

    def keep(self, block: Block) -> None:
        """Store ``block`` without awaiting; its event is the caller's to append."""
        self._blocks[block.key] = block

    async def active(self, keys: tuple[str, ...], now: datetime) -> Block | None:
        return self.find(keys, now)

    def find(self, keys: tuple[str, ...], now: datetime) -> Block | None:
        """The first active block on ``keys``, without awaiting."""
        for key in keys:
            block = self._blocks.get(key)
            if block is not None and block.active(now):
                return block
        return None

    async def put(self, block: Block, event: AuditEvent) -> AuditEvent:
        return self.store(block, event)

    async def remove(self, key: str, event: AuditEvent) -> AuditEvent | None:
        if self._blocks.pop(key, None) is None:
            return None
        return self._audit.add(event)

    async def list(self, now: datetime) -> list[Block]:
        return sorted(
            (b for b in self._blocks.values() if b.active(now)), key=lambda b: b.created_at
        )


class MemorySessions:
    def __init__(self) -> None:
        self._rows: dict[str, SessionRecord] = {}

    async def put(self, record: SessionRecord) -> None:
        self._rows[record.token_hash] = record

    async def touch(
        self, token_hash: str, now: datetime, idle_after: datetime, created_after: datetime
    ) -> SessionRecord | None:
        row = self._rows.get(token_hash)
        if row is None or row.last_seen <= idle_after or row.created_at <= created_after:
            return None
        touched = dataclasses.replace(row, last_seen=now)
        self._rows[token_hash] = touched
        return touched

    async def delete(self, token_hash_prefix: str, user_id: int | None = None) -> int:
        doomed = [
            h
            for h, r in self._rows.items()
            if h.startswith(token_hash_prefix) and (user_id is None or r.user_id == user_id)
        ]
        for h in doomed:
            del self._rows[h]
        return len(doomed)

    async def purge(self, idle_before: datetime, created_before: datetime) -> int:
        doomed = [
            h
            for h, r in self._rows.items()
            if r.last_seen <= idle_before or r.created_at <= created_before
        ]
        for h in doomed:
            del self._rows[h]
        return len(doomed)

    async def list(self, user_id: int | None = None) -> list[SessionRecord]:
        rows = [r for r in self._rows.values() if user_id is None or r.user_id == user_id]
        return sorted(rows, key=lambda r: r.created_at)

    def forget(self, user_id: int) -> None:
        """Drop every session of ``user_id`` without awaiting (for :meth:`MemoryUsers.delete`)."""
        for h in [h for h, r in self._rows.items() if r.user_id == user_id]:
            del self._rows[h]


class MemoryTotp:
    def __init__(self) -> None:
        self._factors: dict[int, TotpFactor] = {}
        self._steps: dict[int, dict[int, datetime]] = {}
        self._recovery: dict[int, set[str]] = {}

    async def get_factor(self, user_id: int) -> TotpFactor | None:
        return self._factors.get(user_id)

    def enrolled(self, user_id: int) -> bool:
        factor = self._factors.get(user_id)
        return factor is not None and factor.confirmed

    async def put_factor(self, factor: TotpFactor | None, user_id: int) -> None:
        if factor is None:
            self._factors.pop(user_id, None)
            self._recovery.pop(user_id, None)
        else:
            self._factors[user_id] = factor

    async def claim_step(self, user_id: int, step: int, now: datetime) -> bool:
        steps = self._steps.setdefault(user_id, {})
        if step in steps:
            return False
        steps[step] = now
        horizon = now - timedelta(hours=1)
        for old in [s for s, at in steps.items() if at < horizon]:
            del steps[old]
        return True

    async def set_recovery(self, user_id: int, code_hashes: list[str]) -> None:
        self._recovery[user_id] = set(code_hashes)

    async def use_recovery(self, user_id: int, code_hash: str) -> bool:
        codes = self._recovery.get(user_id, set())
        if code_hash in codes:
            codes.discard(code_hash)
            return True
        return False

    def forget(self, user_id: int) -> None:
        """Drop the factor, used steps and recovery codes of ``user_id`` without awaiting."""
        self._factors.pop(user_id, None)
        self._steps.pop(user_id, None)
        self._recovery.pop(user_id, None)


class MemoryElevations:
    def __init__(self) -> None:
        self._grants: dict[tuple[int, str], datetime] = {}

    async def grant(self, user_id: int, channel: str, at: datetime) -> None:
        self._grants[(user_id, channel)] = at

    async def granted_at(self, user_id: int, channel: str) -> datetime | None:
        return self.at(user_id, channel)

    def at(self, user_id: int, channel: str) -> datetime | None:
        return self._grants.get((user_id, channel))

    async def revoke(self, user_id: int) -> None:
        self.forget(user_id)

    def forget(self, user_id: int) -> None:
        """Drop every grant of ``user_id`` without awaiting."""
        for key in [k for k in self._grants if k[0] == user_id]:
            del self._grants[key]


class MemoryAudit:
    def __init__(self, capacity: int) -> None:
        self._events: deque[AuditEvent] = deque(maxlen=capacity)
        self._ids = itertools.count(1)

    def add(self, event: AuditEvent) -> AuditEvent:
        """Append ``event`` without awaiting (for other memory stores' atomic steps)."""
        stored = dataclasses.replace(event, id=next(self._ids), detail=dict(event.detail))
        self._events.append(stored)
        return stored

    async def append(self, event: AuditEvent) -> AuditEvent:
        return self.add(event)

    async def query(self, query: AuditQuery) -> list[AuditEvent]:
        found: list[AuditEvent] = []
        for event in reversed(self._events):
            if len(found) >= query.limit:
                break
            if query.before_id is not None and event.id >= query.before_id:
                continue
            if query.since is not None and event.at < query.since:
                continue
            if query.until is not None and event.at >= query.until:
                continue
            if query.kind is not None and event.kind != query.kind:
                continue
            if query.actor is not None and event.actor != query.actor:
                continue
            found.append(event)
        return found


class MemoryStore:
    """Everything in this process's memory; lost at exit. For tests and trials."""

    def __init__(self, counter_capacity: int = 100_000, audit_capacity: int = 100_000) -> None:
        self.sessions = MemorySessions()
        self.totp = MemoryTotp()
        self.elevations = MemoryElevations()
        self.users = MemoryUsers(self.sessions, self.totp, self.elevations)
        self.audit = MemoryAudit(audit_capacity)
        self.blocks = MemoryBlocks(self.audit)
        self.counters = MemoryCounters(self.blocks, counter_capacity)
        self.outbox = MemoryOutbox()
        self.pending = MemoryPending()
        self.conversations = MemoryConversations()
        self.hosts = MemoryHosts(self.audit)
        self.enrolments = MemoryEnrolments(self.hosts)
        self.decisions = MemoryDecisions(self)
        self.views = MemoryViews(self)
        self.health = StoreHealth()  # memory is never lost while the process runs

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
