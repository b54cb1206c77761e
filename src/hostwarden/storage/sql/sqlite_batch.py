"""One SQLite transaction over a batch of queued work: decisions, console views, outbox writes.

:class:`~.sqlite_decisions.SqliteDecisions` has taken the write lock (``BEGIN IMMEDIATE``); here
each item runs in order, its answer kept, and one ``COMMIT`` makes them durable together. The
counters the decisions moved are written once per key just before the commit (:mod:`.sqlite_cache`),
so a user's messages in one batch cost one row write. If an item fails part-way (a bug, not the
database), the batch is undone and run again with a savepoint per item, so that only that item's
writes are lost and only its caller gets the error (``not stored: ...`` when the database
refused its own statement); a database error, or a refusal of a row written at the commit,
fails the whole batch.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from hostwarden.core.decision import DecisionPlan
from hostwarden.core.viewing import ViewPlan
from hostwarden.storage.sql import sqlite_views
from hostwarden.storage.sql.availability import refusal
from hostwarden.storage.sql.sqlite_rows import Reads, decide_in

if TYPE_CHECKING:
    from hostwarden.storage.sql.sqlite_cache import ReadCache

LOG = logging.getLogger("hostwarden.store")


class Write:
    """Other work on the decision connection (the outbox's writes, :mod:`.sqlite_outbox`): a
    function of the open transaction, with no await, run and committed in a decision batch."""

    __slots__ = ("run",)

    def __init__(self, run: Callable[[sqlite3.Connection], object]) -> None:
        self.run = run


def step_in(
    conn: sqlite3.Connection, work: DecisionPlan | ViewPlan | Write, cache: ReadCache
) -> object:
    """A queued item, inside ``conn``'s open transaction."""
    if type(work) is DecisionPlan:  # nearly every item
        return decide_in(conn, work, cache)
    if isinstance(work, Write):
        return work.run(conn)
    return sqlite_views.step_in(conn, work, cache)


def locked(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the lock."""
    return "locked" in str(exc) or "busy" in str(exc)


def transact(
    conn: sqlite3.Connection, works: Sequence[DecisionPlan | ViewPlan | Write], cache: ReadCache
) -> list[object]:
    """Every item of ``works`` in the transaction ``conn`` has begun (``cache`` checked in it);
    one commit. The answers come in order: an item's value, or the exception it alone raised."""
    if len(works) == 1:
        return [transact_one(conn, works[0], cache)]
    try:
        _prefetch(conn, works, cache)
        answers = _all(conn, works, cache)
        cache.write_moved(conn)
        conn.execute("COMMIT")
    except BaseException:
        _undo(conn, cache)
        raise
    return answers


def transact_one(
    conn: sqlite3.Connection, work: DecisionPlan | ViewPlan | Write, cache: ReadCache
) -> object:
    """One item alone in the transaction ``conn`` has begun, committed: its answer, or its error
    raised with its writes undone (alone, the transaction is the item's savepoint)."""
    try:
        answer = step_in(conn, work, cache)
        cache.write_moved(conn)
        conn.execute("COMMIT")
    except BaseException:
        _undo(conn, cache)
        raise
    return answer


def _undo(conn: sqlite3.Connection, cache: ReadCache) -> None:
    cache.clear()
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


def _prefetch(
    conn: sqlite3.Connection, works: Sequence[DecisionPlan | ViewPlan | Write], cache: ReadCache
) -> None:
    """Read ahead what the batch's decisions need; if that fails for any reason but the
    database's own, each decision reads for itself (and a faulty one fails alone)."""
    try:
        cache.prefetch(Reads(conn, None), [w for w in works if isinstance(w, DecisionPlan)])
    except sqlite3.OperationalError:
        raise
    except Exception:
        LOG.debug("reading ahead failed; the batch reads item by item", exc_info=True)


def _all(
    conn: sqlite3.Connection, works: Sequence[DecisionPlan | ViewPlan | Write], cache: ReadCache
) -> list[object]:
    conn.execute("SAVEPOINT batch")
    try:
        answers = [step_in(conn, work, cache) for work in works]
    except sqlite3.OperationalError:
        raise  # the database itself failed: the whole batch fails closed
    except Exception:
        conn.execute("ROLLBACK TO batch")
        cache.clear()
        answers = [_saved(conn, work, cache) for work in works]
    conn.execute("RELEASE batch")
    return answers


def _saved(
    conn: sqlite3.Connection, work: DecisionPlan | ViewPlan | Write, cache: ReadCache
) -> object:
    cache.write_moved(conn)  # the items before this one keep their counters if it fails
    conn.execute("SAVEPOINT decision")
    try:
        result = step_in(conn, work, cache)
        cache.write_moved(conn)
    except sqlite3.OperationalError:
        raise  # the database itself failed: the whole batch fails closed
    except Exception as exc:  # this item alone failed: undo its writes, answer it an error
        conn.execute("ROLLBACK TO decision")
        conn.execute("RELEASE decision")
        cache.clear()
        refused = refusal(exc)
        if refused is not None:
            return refused
        LOG.exception("decision failed")
        return exc
    conn.execute("RELEASE decision")
    return result
