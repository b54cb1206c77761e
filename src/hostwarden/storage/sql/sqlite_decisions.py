"""Guard decisions on SQLite through the standard library driver, with group commit.

A caller queues its plan and awaits a future. The queue is flushed on the event loop's next
turn, so every decision that arrived meanwhile (aiogram runs updates as concurrent tasks) shares
one transaction, and a single decision waits for no company. The flush takes SQLite's write lock
with ``BEGIN IMMEDIATE`` without waiting: no other process can interleave, and each plan in turn
reads, evaluates and writes in its own savepoint; one commit, then every caller is answered, so
an acknowledged decision survives ``kill -9``. A decision is a few dozen microseconds of work in
the page cache (``synchronous=NORMAL``; checkpoints are left to a thread), so it runs on the loop
with no thread hop. Only when another process holds the lock does the batch go to a writer
thread that waits for it; later decisions queue behind it there, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

from hostwarden.errors import StorageError
from hostwarden.storage.sql.availability import SqliteFile
from hostwarden.storage.sql.sqlite_rows import decide_in

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan, DecisionResult
    from hostwarden.core.health import StoreHealth

LOG = logging.getLogger("hostwarden.store")
CHECKPOINT_EVERY = 1000  # commits on the loop between two passive checkpoints in the thread
_Item = tuple["DecisionPlan", asyncio.Future["DecisionResult"]]
_Answer = tuple[asyncio.Future["DecisionResult"], "DecisionResult | BaseException"]
_CHECKPOINT = "checkpoint"


class _Link:
    """One connection to the store's file, opened again if the file was replaced (restored)."""

    def __init__(self, file: SqliteFile, busy_ms: int, autocheckpoint: bool) -> None:
        self._file = file
        self._busy_ms = busy_ms
        self._autocheckpoint = autocheckpoint
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None

    def usable(self) -> sqlite3.Connection:
        """The connection; :class:`StorageError` if the file is gone or not writable."""
        reason, _ = self._file.problem()
        if reason is not None:
            self.drop()
            raise StorageError(f"store unavailable: {reason}")
        stat = self._file.path.stat()
        identity = (stat.st_dev, stat.st_ino)
        if self._conn is None or identity != self._identity:
            self.drop()
            self._conn = self._connect()
            self._identity = identity
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._file.uri, uri=True, timeout=self._busy_ms / 1000, isolation_level=None,
            check_same_thread=False,
        )  # fmt: skip
        conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        if not self._autocheckpoint:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def drop(self) -> None:
        conn, self._conn, self._identity = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


def _locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _transact(conn: sqlite3.Connection, batch: list[_Item], begun: bool) -> list[_Answer]:
    """Every plan of ``batch`` in one transaction (each in a savepoint when not alone)."""
    if not begun:
        conn.execute("BEGIN IMMEDIATE")
    answers: list[_Answer] = []
    try:
        if len(batch) == 1:  # alone, the transaction is its savepoint
            answers.append((batch[0][1], decide_in(conn, batch[0][0])))
        else:
            answers.extend((future, _decide_saved(conn, plan)) for plan, future in batch)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return answers


def _decide_saved(conn: sqlite3.Connection, plan: DecisionPlan) -> DecisionResult | Exception:
    conn.execute("SAVEPOINT decision")
    try:
        result = decide_in(conn, plan)
    except sqlite3.OperationalError:
        raise  # the database itself failed: the whole batch fails closed
    except Exception as exc:  # this plan alone failed: undo its writes, answer it an error
        conn.execute("ROLLBACK TO decision")
        conn.execute("RELEASE decision")
        LOG.exception("decision failed")
        return exc
    conn.execute("RELEASE decision")
    return result


class SqliteDecisions:
    """The SQLite store's :class:`~hostwarden.storage.base.DecisionStore` (group commit)."""

    def __init__(self, file: SqliteFile, health: StoreHealth) -> None:
        self._health = health
        self._here = _Link(file, busy_ms=0, autocheckpoint=False)
        self._pending: list[_Item] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commits = 0
        self._writer = _Writer(_Link(file, busy_ms=30_000, autocheckpoint=True), self)

    async def decide(self, plan: DecisionPlan) -> DecisionResult:
        loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[DecisionResult] = loop.create_future()
        self._pending.append((plan, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def close(self) -> None:
        """Stop the writer thread (what it holds is answered first) and close the connections."""
        self._writer.stop()
        self._here.drop()

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if self._writer.waiting:  # keep the order: behind those already waiting for the lock
            self._writer.put(batch)
            return
        try:
            conn = self._here.usable()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _locked(exc):  # another process writes: wait for the lock in the thread
                self._writer.put(batch)
                return
            self.settle(batch, exc)
            return
        except Exception as exc:
            self.settle(batch, exc)
            return
        try:
            answers = _transact(conn, batch, begun=True)
        except Exception as exc:
            self.settle(batch, exc)
            return
        self.answer(answers)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            self._writer.put(_CHECKPOINT)

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

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Run ``callback`` on the callers' loop (from the writer thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)


class _Writer:
    """A thread that waits for SQLite's write lock when another process holds it."""

    def __init__(self, link: _Link, owner: SqliteDecisions) -> None:
        self._link = link
        self._owner = owner
        self._queue: queue.SimpleQueue[list[_Item] | str | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._held = 0  # batches given to the thread and not answered yet (loop side)

    @property
    def waiting(self) -> bool:
        return self._held > 0

    def put(self, work: list[_Item] | str) -> None:
        if isinstance(work, list):
            self._held += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hostwarden-decisions")
            self._thread.daemon = True
            self._thread.start()
        self._queue.put(work)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=60)
        self._link.drop()

    def _done(self) -> None:
        self._held -= 1

    def _run(self) -> None:
        while (work := self._queue.get()) is not None:
            if isinstance(work, str):
                with contextlib.suppress(Exception):  # best effort; SQLite retries later
                    self._link.usable().execute("PRAGMA wal_checkpoint(PASSIVE)")
                continue
            try:
                answers = _transact(self._link.usable(), work, begun=False)
            except Exception as exc:
                self._link.drop()
                self._owner.call_soon(self._owner.settle, work, exc)
            else:
                self._owner.call_soon(self._owner.answer, answers)
            self._owner.call_soon(self._done)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
