"""What SQLite decisions read without asking the database: accounts and blocks, per process.

Entries are filled on a miss (an absent account or block is remembered too) and all forgotten as
soon as anything else has committed to the file. ``PRAGMA data_version`` on the decision
connection changes when any other connection commits (another process, this process's
SQLAlchemy engine, the decision writer thread) and never for the connection's own commits. It is
read right after ``BEGIN IMMEDIATE`` has taken the write lock, so nothing can change between the
check and the commit: a block or unblock, an account added, changed or removed anywhere, is seen
by the very next decision. What the decisions write themselves (an automatic block) is laid over
the entries at once, so the next plan of the same batch sees it; a rollback forgets everything.

Counters are never cached: each decision's counter moves in the database, under its write lock.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from hostwarden.core.identity import User
from hostwarden.storage.base import Block
from hostwarden.storage.counting import CounterState

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan, DecisionWrites
    from hostwarden.storage.sql.sqlite_rows import Reads

# A flood of strangers brings a new ID per message: past this, start again rather than grow.
MAX_ENTRIES = 50_000
UserKey = int | str  # a Telegram ID, or a casefolded account name


def user_key(telegram_id: int | None, username: str | None) -> UserKey | None:
    if telegram_id is not None:
        return telegram_id
    return username.casefold() if username is not None else None


class ReadCache:
    """Accounts by Telegram ID or name and blocks by key, valid for one ``data_version``."""

    def __init__(self) -> None:
        self._conn: sqlite3.Connection | None = None
        self._version = -1
        self.users: dict[UserKey, User | None] = {}
        self.blocks: dict[str, Block | None] = {}

    def check(self, conn: sqlite3.Connection) -> None:
        """Forget everything if another connection committed since the last check.

        Call it inside a transaction that holds the write lock.
        """
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        if conn is not self._conn or version != self._version:
            self.clear()
            self._conn, self._version = conn, version

    def clear(self) -> None:
        self.users.clear()
        self.blocks.clear()

    def known(self, plan: DecisionPlan) -> bool:
        """Whether the plan's actor is, by what is cached, a user the configuration or an
        account lets in (an actor not cached yet counts as not known)."""
        actor = plan.actor
        if actor.telegram_id is not None and plan.context.config_roles(actor.telegram_id):
            return True
        key = user_key(actor.telegram_id, actor.username)
        stored = self.users.get(key) if key is not None else None
        return stored is not None and plan.context.resolve_user(stored) is not None

    def reader(self, reads: Reads, now: datetime) -> CachedReads:
        return CachedReads(self, reads, now)

    def note(self, writes: DecisionWrites) -> None:
        """Lay a committed-to-be decision's writes over the entries."""
        if writes.block is not None:
            self.blocks[writes.block.key] = writes.block


class CachedReads:
    """A :class:`~hostwarden.core.decision.DecisionReader` that asks the database only on a
    miss; counters and second factors always come from the database."""

    __slots__ = ("_cache", "_now", "_reads")

    def __init__(self, cache: ReadCache, reads: Reads, now: datetime) -> None:
        self._cache = cache
        self._reads = reads
        self._now = now

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
        return self._reads.counter(key)

    def factor(self, user_id: int, channel: str) -> tuple[bool, datetime | None]:
        return self._reads.factor(user_id, channel)
