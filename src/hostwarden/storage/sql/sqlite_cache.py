"""What SQLite decisions read without asking the database: accounts, blocks, counters.

Entries are filled on a miss (an absent account or block is remembered too) and all forgotten as
soon as anything else has committed to the file. ``PRAGMA data_version`` on the decision
connection changes when any other connection commits (another process, this process's
SQLAlchemy engine, the decision writer thread) and never for the connection's own commits. It is
read right after ``BEGIN IMMEDIATE`` has taken the write lock, so nothing can change between the
check and the commit: a block or unblock, an account added, changed or removed anywhere, is seen
by the very next decision. What the decisions write themselves (an automatic block, a counter)
is laid over the entries at once, so the next plan of the same batch sees it; a rollback forgets
everything.

A counter a decision moved is written to the database once per batch, just before the commit
(:meth:`ReadCache.write_moved`): the batch is one transaction, so only its last value of each
key is ever visible, and the limit stays atomic across processes (the write lock is held from
the check of ``data_version`` to the commit).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from hostwarden.core.identity import User
from hostwarden.storage.base import Block
from hostwarden.storage.counting import CounterState
from hostwarden.storage.sql.sqlite_rows import APPEND_WITH_ID, PUT_COUNTER, Reads, counter_row

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan, DecisionWrites

# A flood of strangers brings a new ID per message: past this, start again rather than grow.
MAX_ENTRIES = 50_000
_TOP_EVENT = "SELECT COALESCE(MAX(id), 0) FROM audit_events"
UserKey = int | str  # a Telegram ID, or a casefolded account name


def user_key(telegram_id: int | None, username: str | None) -> UserKey | None:
    if telegram_id is not None:
        return telegram_id
    return username.casefold() if username is not None else None


class ReadCache:
    """Accounts by Telegram ID or name, blocks and counters by key, valid for one
    ``data_version``; and the counters moved in the open transaction, not yet written."""

    def __init__(self) -> None:
        self._conn: sqlite3.Connection | None = None
        self._version = -1
        self.users: dict[UserKey, User | None] = {}
        self.blocks: dict[str, Block | None] = {}
        self.counters: dict[str, CounterState | None] = {}
        self.moved: dict[str, CounterState] = {}
        # Audit rows appended in the open transaction, not written yet, and the next id: the
        # write lock is held, so no other connection can append meanwhile.
        self.events: list[tuple[object, ...]] = []
        self._next_event: int | None = None

    def check(self, conn: sqlite3.Connection) -> None:
        """Forget everything if another connection committed since the last check.

        Call it inside a transaction that holds the write lock.
        """
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        self._next_event = None
        if conn is not self._conn or version != self._version:
            self.clear()
            self._conn, self._version = conn, version

    def clear(self) -> None:
        """Forget every entry, and the counters not written yet (their transaction is undone)."""
        self.users.clear()
        self.blocks.clear()
        self.counters.clear()
        self.moved.clear()
        self.events.clear()
        self._next_event = None

    def event_id(self, conn: sqlite3.Connection) -> int:
        """The id of the next audit row appended in ``conn``'s open transaction."""
        if self._next_event is None:
            (top,) = conn.execute(_TOP_EVENT).fetchone()
            self._next_event = top + 1
        new = self._next_event
        self._next_event = new + 1
        return new

    def write_moved(self, conn: sqlite3.Connection) -> None:
        """Write the counters moved and the audit rows appended since the last call, in
        ``conn``'s open transaction; the counters then count as read."""
        if self.events:
            conn.executemany(APPEND_WITH_ID, self.events)
            self.events.clear()
        moved = self.moved
        if not moved:
            return
        if len(moved) == 1:  # a lone decision's counter
            ((key, s),) = moved.items()
            conn.execute(PUT_COUNTER, counter_row(key, s))
        else:
            conn.executemany(PUT_COUNTER, [counter_row(key, s) for key, s in moved.items()])
        if len(self.counters) > MAX_ENTRIES:
            self.counters.clear()
        self.counters.update(moved)
        moved.clear()

    def prefetch(self, reads: Reads, plans: list[DecisionPlan]) -> None:
        """Fill what a batch of decisions will read, one statement per table, not one per
        decision: a flood of strangers brings IDs nobody has seen, each a miss everywhere."""
        for entries in (self.users, self.blocks, self.counters):
            if len(entries) > MAX_ENTRIES:  # a flood of new IDs: start again rather than grow
                entries.clear()
        users = self.users
        ids = {
            p.actor.telegram_id
            for p in plans
            if p.actor.telegram_id is not None and p.actor.telegram_id not in users
        }
        if ids:
            linked = reads.linked_ids(sorted(ids))
            for telegram_id in ids - linked:  # the linked ones are read on demand
                self.users[telegram_id] = None
        keys = {key for p in plans for key in p.block_keys if key not in self.blocks}
        if keys:
            found = reads.blocks_by_key(sorted(keys))
            for key in keys:
                self.blocks[key] = found.get(key)
        wanted: set[str] = set()
        for plan in plans:
            user_at = user_key(plan.actor.telegram_id, plan.actor.username)
            if user_at is None or user_at not in self.users:
                continue
            counter = plan.counter_key(self.users[user_at])
            if counter is not None and counter not in self.counters and counter not in self.moved:
                wanted.add(counter)
        if wanted:
            self.counters.update(reads.counters(sorted(wanted)))

    def known(self, plan: DecisionPlan) -> bool:
        """Whether the plan's actor is, by what is cached, a user the configuration or an
        account lets in (an actor not cached yet counts as not known)."""
        actor = plan.actor
        if actor.telegram_id is not None and plan.context.config_roles(actor.telegram_id):
            return True
        key = user_key(actor.telegram_id, actor.username)
        stored = self.users.get(key) if key is not None else None
        return stored is not None and plan.context.resolve_user(stored) is not None

    def reader(self, conn: sqlite3.Connection, now: datetime) -> CachedReads:
        """A decision's reads at ``now``, in ``conn``'s open transaction."""
        return CachedReads(self, conn, now)

    def note(self, writes: DecisionWrites) -> None:
        """Lay a committed-to-be decision's writes over the entries."""
        if writes.block is not None:
            self.blocks[writes.block.key] = writes.block
        if writes.counter is not None:
            key, state = writes.counter
            self.moved[key] = state


class CachedReads:
    """A :class:`~hostwarden.core.decision.DecisionReader` that asks the database only on a
    miss; second factors always come from the database."""

    __slots__ = ("_cache", "_conn", "_now")

    def __init__(self, cache: ReadCache, conn: sqlite3.Connection, now: datetime) -> None:
        self._cache = cache
        self._conn = conn
        self._now = now

    @property
    def _reads(self) -> Reads:
        return Reads(self._conn, self._now)

    def block(self, keys: tuple[str, ...]) -> Block | None:
        blocks = self._cache.blocks
        missing = [key for key in keys if key not in blocks]
        if missing:
            if len(blocks) > MAX_ENTRIES:
                blocks.clear()
            found = self._reads.blocks_by_key(missing)
            for key in missing:
                blocks[key] = found.get(key)
        for key in keys:
            block = blocks.get(key)
            if block is not None and block.active(self._now):
                return block
        return None

    def user(self, telegram_id: int | None, username: str | None) -> User | None:
        key = user_key(telegram_id, username)
        if key is None:
            return None
        users = self._cache.users
        if key in users:
            return users[key]
        if len(users) > MAX_ENTRIES:
            users.clear()
        found = users[key] = self._reads.user(telegram_id, username)
        return found

    def counter(self, key: str) -> CounterState | None:
        cache = self._cache
        moved = cache.moved.get(key)
        if moved is not None:
            return moved
        counters = cache.counters
        if key in counters:
            return counters[key]
        if len(counters) > MAX_ENTRIES:
            counters.clear()
        found = counters[key] = self._reads.counter(key)
        return found

    def factor(self, user_id: int, channel: str) -> tuple[bool, datetime | None]:
        return self._reads.factor(user_id, channel)
