"""Guard decisions on SQLite through the standard library driver, with group commit.

A caller queues its plan and awaits a future. The queue is flushed on the event loop's next
turn, so every decision that arrived meanwhile (aiogram runs updates as concurrent tasks) shares
one transaction, and a single decision waits for no company. The flush takes SQLite's write lock
with ``BEGIN IMMEDIATE`` without waiting: no other process can interleave, and each plan in turn
reads, evaluates and writes in its own savepoint; one commit, then every caller is answered, so
an acknowledged decision survives ``kill -9``. A decision is a few dozen microseconds of work in
the page cache (``synchronous=NORMAL``; checkpoints are left to a thread), so it runs on the loop
with no thread hop. When another connection holds the lock (another process, or this process's
SQLAlchemy engine), the batch is tried again on a later turn of the loop, later decisions queued
behind it in order, so the lock is never held while the loop does anything else. Accounts and
blocks are read from a cache checked against ``PRAGMA data_version`` (:mod:`.sqlite_cache`),
and the decisions of known users commit ahead of strangers' in a batch of their own. A console
request's access work (:mod:`.sqlite_views`: the session, its user, the decision) queues here
too and runs in the same transactions, as a known user's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from hostwarden.core.viewing import ViewPlan
from hostwarden.errors import StorageError
from hostwarden.storage.sql import sqlite_views
from hostwarden.storage.sql.availability import SqliteFile
from hostwarden.storage.sql.sqlite_cache import ReadCache
from hostwarden.storage.sql.sqlite_link import Checkpoints, Link

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan, DecisionResult
    from hostwarden.core.health import StoreHealth
    from hostwarden.core.viewing import SessionView

LOG = logging.getLogger("hostwarden.store")
CHECKPOINT_EVERY = 1000  # commits on the loop between two passive checkpoints in the thread
LOCK_WAIT_MS = 30_000  # how long a batch waits for another connection's write lock, at most
RETRY_MAX_SECONDS = 0.02
T = TypeVar("T")


class Write:
    """Other work on the decision connection (the outbox's writes, :mod:`.sqlite_outbox`): a
    function of the open transaction, with no await, run and committed in a decision batch."""

    __slots__ = ("run",)

    def __init__(self, run: Callable[[sqlite3.Connection], object]) -> None:
        self.run = run


# A decision, a console request's view (core/viewing.py) or a write, with the future its caller
# awaits; the answer is what it returned (a decision's result, a view, a write's value).
_Item = tuple["DecisionPlan | ViewPlan | Write", asyncio.Future[Any]]
_Answer = tuple[asyncio.Future[Any], "DecisionResult | SessionView | BaseException | object"]


def step_in(
    conn: sqlite3.Connection, work: DecisionPlan | ViewPlan | Write, cache: ReadCache | None
) -> object:
    """A queued item, inside ``conn``'s open transaction."""
    if isinstance(work, Write):
        return work.run(conn)
    return sqlite_views.step_in(conn, work, cache)


def _locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _transact(
    conn: sqlite3.Connection, batch: list[_Item], begun: bool, cache: ReadCache | None = None
) -> list[_Answer]:
    """Every plan of ``batch`` in one transaction; one commit."""
    if not begun:
        conn.execute("BEGIN IMMEDIATE")
    try:
        if len(batch) == 1:  # alone, the transaction is its savepoint
            answers: list[_Answer] = [(batch[0][1], step_in(conn, batch[0][0], cache))]
        else:
            answers = _decide_all(conn, batch, cache)
        conn.execute("COMMIT")
    except BaseException:
        if cache is not None:
            cache.clear()
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return answers


def _decide_all(
    conn: sqlite3.Connection, batch: list[_Item], cache: ReadCache | None
) -> list[_Answer]:
    """The plans in order inside one savepoint; if one fails part-way (a bug, not the
    database), the batch is undone and run again with a savepoint per plan, so that only the
    failed plan's writes are lost and only its caller gets the error."""
    conn.execute("SAVEPOINT batch")
    try:
        answers: list[_Answer] = [(future, step_in(conn, plan, cache)) for plan, future in batch]
    except sqlite3.OperationalError:
        raise  # the database itself failed: the whole batch fails closed
    except Exception:
        conn.execute("ROLLBACK TO batch")
        if cache is not None:
            cache.clear()
        answers = [(future, _decide_saved(conn, plan, cache)) for plan, future in batch]
    conn.execute("RELEASE batch")
    return answers


def _decide_saved(
    conn: sqlite3.Connection, plan: DecisionPlan | ViewPlan | Write, cache: ReadCache | None
) -> object:
    conn.execute("SAVEPOINT decision")
    try:
        result = step_in(conn, plan, cache)
    except sqlite3.OperationalError:
        raise  # the database itself failed: the whole batch fails closed
    except Exception as exc:  # this plan alone failed: undo its writes, answer it an error
        conn.execute("ROLLBACK TO decision")
        conn.execute("RELEASE decision")
        if cache is not None:
            cache.clear()
        LOG.exception("decision failed")
        return exc
    conn.execute("RELEASE decision")
    return result


class SqliteDecisions:
    """The SQLite store's :class:`~hostwarden.storage.base.DecisionStore` (group commit)."""

    def __init__(self, file: SqliteFile, health: StoreHealth) -> None:
        self._health = health
        self._here = Link(file, busy_ms=0, autocheckpoint=False)
        self._pending: list[_Item] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commits = 0
        self._cache = ReadCache()
        self._busy_since: float | None = None
        self._checkpoints = Checkpoints(Link(file, busy_ms=LOCK_WAIT_MS, autocheckpoint=True))

    async def decide(self, plan: DecisionPlan) -> DecisionResult:
        return cast("DecisionResult", await self._queue(plan))

    async def view(self, plan: ViewPlan) -> SessionView:
        """A console request's access work (:mod:`.sqlite_views`), in a decision batch."""
        return cast("SessionView", await self._queue(plan))

    async def write(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """``run`` (reads and writes, no await) in a decision batch's transaction, committed
        before it returns: the write lock is held only while the flush runs on the loop."""
        return cast("T", await self._queue(Write(run)))

    async def _queue(self, work: DecisionPlan | ViewPlan | Write) -> Any:
        loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((work, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def close(self) -> None:
        """Stop the checkpoint thread and close the connections; fail what still waits."""
        pending, self._pending = self._pending, []
        if pending and self._loop is not None and not self._loop.is_closed():
            closed = StorageError("the store is closed")
            self._loop.call_soon_threadsafe(self.settle, pending, closed)
        self._checkpoints.stop()
        self._here.drop()

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            conn = self._here.usable()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _locked(exc) and self._wait_for_lock(batch):
                return
            self.settle(batch, exc)
            return
        except Exception as exc:
            self.settle(batch, exc)
            return
        self._busy_since = None
        try:
            self._cache.check(conn)
            batch = self._known_first(batch)
            answers = _transact(conn, batch, begun=True, cache=self._cache)
        except Exception as exc:
            self.settle(batch, exc)
            return
        self.answer(answers)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            self._checkpoints.request()

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
        known = [item for item in batch if self._known(item[0])]
        if not known or len(known) == len(batch):
            return batch
        self._pending[:0] = [item for item in batch if not self._known(item[0])]
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return known

    def _known(self, work: DecisionPlan | ViewPlan | Write) -> bool:
        # A view is a session's: its decision, if any, is a logged-in user's. A write (the
        # outbox's) goes with the strangers, keeping the known users' batch small.
        if isinstance(work, Write):
            return False
        return isinstance(work, ViewPlan) or self._cache.known(work)

    def answer(self, answers: list[_Answer]) -> None:
        """Answer each caller (on the loop) after a commit."""
        if not self._health.available:
            self._health.ok()
        for future, answer in answers:
            if future.done():
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    def settle(self, batch: list[_Item], exc: BaseException) -> None:
        """Fail every caller of a batch that did not commit (on the loop): closed, not open."""
        if isinstance(exc, sqlite3.Error):
            self._here.drop()
            self._health.failed(_reason(exc))
            exc = StorageError(f"store unavailable: {_reason(exc)}")
        elif isinstance(exc, StorageError) and str(exc).startswith("store unavailable: "):
            self._health.failed(str(exc).removeprefix("store unavailable: "))
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
