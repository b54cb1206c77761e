"""Guard decisions on SQLite through the standard library driver: alone at once, else group commit.

A decision that finds nothing queued (and the last flush had no company) runs at once in its own
transaction, answered without a turn of the loop; at most ``SOLO_PER_TURN`` a turn, besides the
task that ran the last of those deciding again before it yields. Otherwise
the caller queues its plan and awaits a future; the queue is flushed on the loop's next turn,
so every decision that arrived meanwhile (aiogram runs updates as concurrent tasks) shares one
transaction (at most ``MAX_BATCH``; :mod:`.sqlite_batch`). Each transaction takes SQLite's write
lock with ``BEGIN IMMEDIATE`` without waiting, so no other process can interleave; one commit,
then every caller is answered, so an acknowledged decision survives ``kill -9``. A decision is
tens of microseconds of work in the page cache (``synchronous=NORMAL``; checkpoints are left to
a thread), so it runs on the loop with no thread hop. When another connection holds the lock
(another process, or this process's SQLAlchemy engine), the batch is tried again on a later turn
of the loop, later decisions queued behind it in order, so the lock is never held while the loop
does anything else. Accounts, blocks and counters are read from a cache checked against
``PRAGMA data_version`` (:mod:`.sqlite_cache`), and the decisions of known users commit ahead of
strangers' in a batch of their own. A console request's access work (:mod:`.sqlite_views`: the
session, its user, the decision) goes the same way, as a known user's.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from hostwarden.core.viewing import ViewPlan
from hostwarden.errors import StorageError
from hostwarden.storage.sql.availability import SqliteFile, one_line, refusal
from hostwarden.storage.sql.sqlite_batch import Write, locked, transact, transact_one
from hostwarden.storage.sql.sqlite_cache import ReadCache
from hostwarden.storage.sql.sqlite_link import Checkpoints, Link

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan, DecisionResult
    from hostwarden.core.health import StoreHealth
    from hostwarden.core.viewing import SessionView

LOG = logging.getLogger("hostwarden.store")
# Items committed (decisions, views, writes) between two checkpoints in the thread: counted by
# item, not by commit, as a batch of 256 strangers writes about 64 pages in one commit.
CHECKPOINT_EVERY = 1000
LOCK_WAIT_MS = 30_000  # how long a batch waits for another connection's write lock, at most
RETRY_MAX_SECONDS = 0.02
# Items per transaction, at most: a flush holds the loop and the write lock (about 40 ms for
# 256 strangers here); a larger burst is cut into batches, one per turn of the loop.
MAX_BATCH = 256
SOLO_PER_TURN = 4  # items run at once, each its own transaction, in one turn of the loop
# One task's items in a row, alone, in one turn: past this it waits a turn, so that a task
# deciding in a loop (a script over the core) lets the others run every few milliseconds.
SOLO_RUN_PER_TURN = 64
T = TypeVar("T")


# A decision, a console request's view (core/viewing.py) or a write, with the future its caller
# awaits; the answer is what it returned (a decision's result, a view, a write's value).
_Item = tuple["DecisionPlan | ViewPlan | Write", asyncio.Future[Any]]


class SqliteDecisions:
    """The SQLite store's :class:`~hostwarden.storage.base.DecisionStore` (group commit)."""

    def __init__(self, file: SqliteFile, health: StoreHealth) -> None:
        self._health = health
        self._here = Link(file, busy_ms=0, autocheckpoint=False)
        self._pending: list[_Item] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commits = 0
        self._items = 0  # items committed, for the checkpoints
        self._cache = ReadCache()
        self._busy_since: float | None = None
        self._solos = 0  # items run at once in this turn of the loop
        self._solo_task: asyncio.Task[Any] | None = None  # the task of the last of them
        self._crowded = False  # whether the last flush had more than one item
        self._checkpoints = Checkpoints(Link(file, busy_ms=LOCK_WAIT_MS, autocheckpoint=True))

    async def decide(self, plan: DecisionPlan) -> DecisionResult:
        done, answer = self._enter(plan)
        return cast("DecisionResult", answer if done else await answer)

    async def view(self, plan: ViewPlan) -> SessionView:
        """A console request's access work (:mod:`.sqlite_views`), in a decision batch."""
        done, answer = self._enter(plan)
        return cast("SessionView", answer if done else await answer)

    async def write(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """``run`` (reads and writes, no await) in a decision batch's transaction, committed
        before it returns: the write lock is held only while the flush runs on the loop."""
        done, answer = self._enter(Write(run))
        return cast("T", answer if done else await answer)

    def _enter(self, work: DecisionPlan | ViewPlan | Write) -> tuple[bool, Any]:
        """``(True, answer)`` if ``work`` ran alone at once (its error is raised here), else
        ``(False, future)``: it is queued for the next flush. No coroutine of its own: the
        callers' are the only ones a lone decision goes through."""
        if self._runs_alone():
            ran, answer = self._solo(work)
            if ran:
                if isinstance(answer, BaseException):
                    raise answer
                return True, answer
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop: the last one's turn bookkeeping is void
            self._loop, self._solos, self._solo_task = loop, 0, None
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((work, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return False, future

    def _solo(self, work: DecisionPlan | ViewPlan | Write) -> tuple[bool, object]:
        """An item that finds nothing queued runs at once, its own transaction: its caller does
        not wait a turn of the loop for company that may never come. Past ``SOLO_PER_TURN`` in
        one turn, items are queued and share the next flush (aiogram starts a batch of updates
        together: a flood of strangers is a few commits per turn, not one per update).
        ``(False, None)`` if another connection holds the lock: the item is queued."""
        if not self._solos:
            # The loop is asked for once a turn: asyncio's get_running_loop costs a getpid
            # system call each time, and a turn's items all run on the loop it names.
            self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self._next_turn)
        self._solos += 1
        if self._solos == SOLO_PER_TURN:  # the budget's last: whose task may go on alone
            self._solo_task = asyncio.current_task(self._loop)
        try:
            conn = self._begin()
        except sqlite3.OperationalError as exc:
            if locked(exc):
                return False, None
            return True, self._failed(exc)
        except Exception as exc:
            return True, self._failed(exc)
        try:
            answer = transact_one(conn, work, self._cache)
        except Exception as exc:
            return True, self._failed(exc)
        self._committed()
        return True, answer

    def _next_turn(self) -> None:
        self._solos = 0
        self._solo_task = None

    def _runs_alone(self) -> bool:
        """Whether an item runs at once, alone: nothing is queued and the last flush had no
        company either (under a flood, every item is queued: one commit per batch is cheaper
        than a few solos a turn); and it is within this turn's budget, or of the task that ran
        the last item alone, deciding again before it yields, up to ``SOLO_RUN_PER_TURN``.
        The budget is there so that a burst of tasks (aiogram starts a batch of updates
        together) shares commits; one task's items come one after another, each waiting for the
        last, so no two of them could share one, and the other tasks of the turn group among
        themselves once it yields."""
        if self._pending or self._flush_scheduled or self._crowded:
            return False
        if self._solos < SOLO_PER_TURN:
            return True
        if self._solos >= SOLO_RUN_PER_TURN:
            return False
        task = asyncio.current_task(self._loop)
        if task is None:  # not in a task of the turn's loop: that loop ended mid-turn
            self._solos, self._solo_task = 0, None
            return True
        return task is self._solo_task

    def close(self) -> None:
        """Stop the checkpoint thread and close the connections; fail what still waits."""
        pending, self._pending = self._pending, []
        if pending and self._loop is not None and not self._loop.is_closed():
            closed = StorageError("the store is closed")
            self._loop.call_soon_threadsafe(self.settle, pending, closed)
        self._checkpoints.stop()
        self._here.drop()

    def _begin(self) -> sqlite3.Connection:
        """The connection, in a transaction holding the write lock, the cache checked in it."""
        conn = self._here.usable()
        conn.execute("BEGIN IMMEDIATE")
        self._busy_since = None
        try:
            self._cache.check(conn)
        except BaseException:
            self._cache.clear()
            conn.execute("ROLLBACK")
            raise
        return conn

    def _committed(self, items: int = 1) -> None:
        if not self._health.available:
            self._health.ok()
        self._commits += 1
        before, self._items = self._items, self._items + items
        if before // CHECKPOINT_EVERY != self._items // CHECKPOINT_EVERY:
            self._checkpoints.request()

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if not batch:
            return
        try:
            conn = self._begin()
        except sqlite3.OperationalError as exc:
            if locked(exc) and self._wait_for_lock(batch):
                return  # the batch is queued again ahead of the rest, one retry scheduled
            self.settle(batch, exc)
            self._more()
            return
        except Exception as exc:
            self.settle(batch, exc)
            self._more()
            return
        self._more()
        self._crowded = len(batch) > 1
        batch = self._known_first(batch)
        try:
            answers = transact(conn, [work for work, _ in batch], self._cache)
        except Exception as exc:
            self.settle(batch, exc)
            return
        self._committed(len(batch))
        self.answer(zip((future for _, future in batch), answers, strict=True))

    def _more(self) -> None:
        """The rest of a burst larger than a batch: flushed on the next turn, in order."""
        if self._pending and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _wait_for_lock(self, batch: list[_Item]) -> bool:
        """Another connection writes: try again on a later turn of the loop, in order.

        The lock is never waited for in a thread that would take it again the moment it is
        free: SQLite's busy handler polls, so a writer that holds the lock back to back starves
        every other (this process's SQLAlchemy work, other processes). On the loop, the lock is
        held only while a flush runs, and free while the loop does anything else. ``False``
        once it has been waited for longer than ``LOCK_WAIT_MS``: the batch then fails closed.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._busy_since is None:
            self._busy_since = now
        waited = now - self._busy_since
        if waited * 1000 > LOCK_WAIT_MS:
            self._busy_since = None
            return False
        self._pending[:0] = batch
        self._flush_scheduled = True
        loop.call_later(min(RETRY_MAX_SECONDS, 0.0005 + waited / 4), self._flush)
        return True

    def _known_first(self, batch: list[_Item]) -> list[_Item]:
        """The decisions of known users in a batch of their own, the others queued just behind.

        A known user's decision is a counter write; a stranger's is several rows, an audit event
        and maybe an alert. Committed first and answered, the known users' tasks go on before
        the strangers' transaction starts (it is flushed on the loop's next turn), so an admin's
        command does not wait for a flood's database work. Nothing is skipped: each decision
        still commits before its answer, and one actor's decisions keep their order.
        """
        marks = [self._known(work) for work, _ in batch]
        known = [item for item, mark in zip(batch, marks, strict=True) if mark]
        if not known or len(known) == len(batch):
            return batch
        self._pending[:0] = [item for item, mark in zip(batch, marks, strict=True) if not mark]
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return known

    def _known(self, work: DecisionPlan | ViewPlan | Write) -> bool:
        # A view is a session's: its decision, if any, is a logged-in user's. A write (the
        # outbox's) goes with the strangers, keeping the known users' batch small.
        if isinstance(work, Write):
            return False
        try:
            return isinstance(work, ViewPlan) or self._cache.known(work)
        except Exception:  # a plan whose account cannot be resolved fails in its own step
            return False

    def answer(self, answers: Iterable[tuple[asyncio.Future[Any], object]]) -> None:
        """Answer each caller (on the loop) after a commit."""
        for future, answer in answers:
            if future.done():
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    def settle(self, batch: list[_Item], exc: BaseException) -> None:
        """Fail every caller of a batch that did not commit (on the loop): closed, not open."""
        failed = self._failed(exc)
        for _, future in batch:
            if not future.done():
                future.set_exception(failed)

    def _failed(self, exc: BaseException) -> BaseException:
        """What the callers of work that did not commit get; a database error marks the store
        unavailable and drops the connection (opened again on the next try). A statement the
        database refused (a constraint, a trigger's ``RAISE``) is no outage: the transaction's
        work fails (a batch's, when the refused row is one written at the commit), it was
        rolled back, and the store is as usable as before."""
        refused = refusal(exc)
        if refused is not None:
            return refused
        if isinstance(exc, sqlite3.Error):
            self._here.drop()
            self._health.failed(one_line(exc))
            return StorageError(f"store unavailable: {one_line(exc)}")
        if isinstance(exc, StorageError) and str(exc).startswith("store unavailable: "):
            self._health.failed(str(exc).removeprefix("store unavailable: "))
        return exc
