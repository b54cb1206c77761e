"""The SQLite decision store's connections: one that reopens a replaced file, and checkpoints.

A connection is opened in autocommit mode (transactions are the caller's ``BEGIN IMMEDIATE``),
with ``synchronous=NORMAL`` (WAL) and foreign keys on; a file that was replaced (restored from a
backup) is opened again, unless the old file's ``-wal`` is still beside it (refused: see
:class:`~.availability.SqliteFile`). WAL checkpoints run in a thread of their own, never on the
loop (:func:`checkpoint`).
"""

from __future__ import annotations

import contextlib
import functools
import queue
import sqlite3
import threading

from hostwarden.errors import StorageError
from hostwarden.storage.sql.availability import Companions, Identity, SqliteFile
from hostwarden.storage.sql.sqlite_rescue import rescue

# Frames still in the WAL after a passive checkpoint that show it has not started over for a
# while (checkpoints are asked for every 1,000 items): then a restart is forced. Each restart
# holds writers for its syncs (two fsyncs; on an SD card, hundreds of milliseconds), so rarely.
RESTART_FRAMES = 8192
# The WAL file is cut back to this when it starts over, after a flood or a long reader grew it.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
RESTART_WAIT_MS = 20  # how long a restart waits for the write lock, then for readers, at most


class Link:
    """One connection to the store's file, opened again if the file was replaced (restored)."""

    def __init__(self, file: SqliteFile, busy_ms: int, autocheckpoint: bool) -> None:
        self._file = file
        self._busy_ms = busy_ms
        self._autocheckpoint = autocheckpoint
        self._conn: sqlite3.Connection | None = None
        self._identity: Identity | None = None
        self._companions: Companions | None = None  # the -wal and -shm the connection is on

    def usable(self) -> sqlite3.Connection:
        """The connection; :class:`StorageError` if the file is gone or not writable, or its
        ``-wal`` or ``-shm`` was deleted or replaced under the connection."""
        conn = self._conn
        if conn is not None and self._file.unchanged(self._identity, self._companions):
            return conn
        reason, _ = self._file.problem()
        if (
            reason is None
            and conn is not None
            and self._file.seen == self._identity  # the same file: its WAL was replaced
            and self._file.companions() != self._companions
        ):
            reason = self._file.refuse(functools.partial(rescue, conn, self._file.path))
        if reason is not None:
            if not self._file.refused:
                self.drop()
            raise StorageError(f"store unavailable: {reason}")
        identity = self._file.seen
        if identity is None:  # before the store started, nothing was checked
            stat = self._file.path.stat()
            identity = (stat.st_dev, stat.st_ino)
        if self._conn is None or identity != self._identity:
            self.drop()
            conn = self._connect()
            self._conn, self._identity = conn, identity
            # The -wal and -shm it is on: while it is open, SQLite never deletes them.
            self._companions = self._file.companions()
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._file.uri, uri=True, timeout=self._busy_ms / 1000, isolation_level=None,
            check_same_thread=False,
        )  # fmt: skip
        conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        if not self._autocheckpoint:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        try:
            # A file restored from a copy in another journal mode is put back in WAL mode (as
            # the pool's connections do); the first read then opens the WAL, making its -wal
            # and -shm if they were not there.
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA schema_version").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def drop(self) -> None:
        conn, self._conn, self._identity, self._companions = self._conn, None, None, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


class Checkpoints:
    """A thread that runs WAL checkpoints, so that the loop never copies pages back itself."""

    def __init__(self, link: Link) -> None:
        self._link = link
        self._queue: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hostwarden-checkpoints")
            self._thread.daemon = True
            self._thread.start()
        self._queue.put(True)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(False)
            thread.join(timeout=60)
        self._link.drop()

    def _run(self) -> None:
        while self._queue.get():
            with contextlib.suppress(Exception):  # best effort; SQLite retries later
                checkpoint(self._link.usable())


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the WAL back into the database, and have it start over if it has not for a while.

    SQLite starts the WAL over only when a writer begins with every frame already copied back.
    Under steady load, frames arrive while the checkpoint runs (in a thread, beside the loop's
    writes), so that moment never comes: the WAL grew by a page a commit for as long as the load
    lasted (83 MB for 20,000 updates of one user), each commit writing to pages the kernel had to
    allocate. So when the WAL still holds ``RESTART_FRAMES`` frames after a passive checkpoint,
    a ``RESTART`` one holds writers off while it copies the few that came meanwhile and syncs,
    and the next commit begins the WAL again (and syncs its header, as SQLite does whenever the
    WAL starts over). It waits for the write lock, and then for readers, at most
    ``RESTART_WAIT_MS`` each (``conn``'s busy timeout meanwhile): decisions queue behind it for
    its syncs (a few milliseconds on an SSD, more on slow storage, hence only every
    ``RESTART_FRAMES``), and a reader on an old snapshot (a long export) only puts the restart
    off to a later checkpoint.
    """
    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if frames < RESTART_FRAMES:
        return
    (waits,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
    try:
        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(waits)}")
