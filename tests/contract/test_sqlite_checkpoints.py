"""SQLite checkpoints: the WAL starts over under steady writes, and no reader stalls the writers.

Under steady load a commit lands while the checkpoint thread's passive pass runs, so no writer
ever finds the WAL all copied back. That is made here in order, with no thread racing:
:class:`LateCommit` commits while a reader's snapshot keeps the pass from copying that frame,
as its arrival after the pass began would.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from hostwarden.storage.sql import sqlite_link
from hostwarden.storage.sql.availability import SqliteFile
from hostwarden.storage.sql.sqlite_link import RESTART_FRAMES, Link, checkpoint

FRAME = 4096 + 24  # a page and its frame header


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


class Store:
    """The loop's writer (never waits for a lock) and the checkpoint thread's connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer = _connect(path)
        self.writer.execute("PRAGMA journal_mode=WAL")
        self.writer.execute("PRAGMA busy_timeout=0")
        self.writer.execute("CREATE TABLE counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL)")
        self.checkpointer = _connect(path)
        self.checkpointer.execute("PRAGMA busy_timeout=30000")
        self.count = 0

    def commit(self, n: int = 1) -> None:
        for _ in range(n):  # two pages a commit: the row's and its key's
            self.count += 1
            self.writer.execute("BEGIN IMMEDIATE")
            self.writer.execute("INSERT OR REPLACE INTO counters VALUES ('k', ?)", (self.count,))
            self.writer.execute("COMMIT")

    def wal_size(self) -> int:
        return (self.path.parent / (self.path.name + "-wal")).stat().st_size

    def frames(self) -> int:
        """Frames in the WAL, after a passive checkpoint (the next commit may start it over)."""
        _, frames, _ = self.checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames)


class LateCommit:
    """The checkpoint thread's connection, with a commit landing while its passive pass runs."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        conn = self._store.checkpointer
        if "PASSIVE" not in sql:
            return conn.execute(sql, *args)
        reader = _connect(self._store.path)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM counters").fetchone()
        self._store.commit()  # after the reader's snapshot: the pass cannot copy it
        row = conn.execute(sql, *args).fetchone()
        reader.execute("COMMIT")
        reader.close()
        return conn.execute("SELECT ?, ?, ?", row)


def _late(store: Store) -> sqlite3.Connection:
    return cast(sqlite3.Connection, LateCommit(store))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(tmp_path / "store.db")
    yield made
    made.writer.close()
    made.checkpointer.close()


def test_a_wal_that_never_found_a_pause_starts_over_after_the_checkpoint(store: Store) -> None:
    store.commit(RESTART_FRAMES // 2)
    _late(store).execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # a pass alone, as before
    size = store.wal_size()
    store.commit()
    assert store.wal_size() == size + 2 * FRAME  # SQLite did not start the WAL over

    checkpoint(_late(store))
    size = store.wal_size()
    store.commit()

    assert store.frames() == 2  # the next commit began the WAL again
    store.commit(100)
    assert store.wal_size() == size  # written over since, never grown
    (waits,) = store.checkpointer.execute("PRAGMA busy_timeout").fetchone()
    assert waits == 30_000  # the connection's own wait is back
    assert store.writer.execute("SELECT count FROM counters").fetchone() == (store.count,)


def test_a_short_wal_gets_a_passive_checkpoint_only(store: Store) -> None:
    store.commit(RESTART_FRAMES // 2 - 10)
    checkpoint(_late(store))
    size = store.wal_size()
    store.commit()
    assert store.wal_size() == size + 2 * FRAME  # no restart asked for: the WAL goes on


def test_a_reader_on_an_old_snapshot_puts_the_restart_off_without_holding_the_writers(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.commit(RESTART_FRAMES // 2)
    reader = _connect(store.path)
    reader.execute("BEGIN")
    (seen,) = reader.execute("SELECT count FROM counters").fetchone()  # an export, say
    monkeypatch.setattr(sqlite_link, "RESTART_WAIT_MS", 50)

    done = threading.Event()

    def run() -> None:
        checkpoint(_late(store))
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)  # the connection's own busy timeout is 30 s
    assert done.is_set()

    size = store.wal_size()
    store.commit()  # the write lock is free at once: this writer waits for nothing
    assert store.wal_size() == size + 2 * FRAME  # the restart was put off
    assert reader.execute("SELECT count FROM counters").fetchone() == (seen,)  # snapshot kept
    reader.execute("COMMIT")
    reader.close()

    checkpoint(store.checkpointer)  # the next checkpoint, the reader gone
    store.commit()
    assert store.frames() == 2


def test_a_wal_grown_by_a_flood_is_cut_back_when_it_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decision store's own connection (``Link``) cuts the WAL file back to
    ``WAL_SIZE_LIMIT`` once it starts over: a flood or a long reader leaves no lasting file."""
    monkeypatch.setattr(sqlite_link, "WAL_SIZE_LIMIT", 64 * FRAME)
    store = Store(tmp_path / "store.db")  # creates the file and its table, in WAL mode
    file = SqliteFile(store.path)
    file.must_exist = True
    link = Link(file, busy_ms=0, autocheckpoint=False)
    writer = link.usable()
    try:
        for n in range(300):  # a flood: the WAL grows to 600 frames
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT OR REPLACE INTO counters VALUES ('k', ?)", (n,))
            writer.execute("COMMIT")
        assert store.wal_size() > 500 * FRAME
        checkpoint(store.checkpointer)  # copied back: the next commit starts the WAL over
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT OR REPLACE INTO counters VALUES ('k', -1)")
        writer.execute("COMMIT")
        assert store.wal_size() <= 64 * FRAME
        assert writer.execute("SELECT count FROM counters").fetchone() == (-1,)
    finally:
        link.drop()
        store.writer.close()
        store.checkpointer.close()
