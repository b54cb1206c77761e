"""Telling a lost database from an ordinary error, and watching an SQLite file under a live store.

A database that disappears under a running process must fail closed, say so once, and be used
again when it is back, without a restart. These pieces serve :class:`~.db.Database`:

- :func:`unavailable_reason` says whether an exception means the store cannot be used (connection
  refused or broken, file gone, read-only, I/O error) rather than a caller's mistake (a unique
  key taken), with a short reason that holds no SQL, parameters or credentials; :func:`refusal`
  says the same of the standard library driver's errors on the decision store's connection;
- :class:`SqliteFile` checks before every transaction that the file the pool's connections opened
  is still there, still the same file, and writable. Open connections would otherwise go on
  using a deleted file (its data would vanish at exit) or write to one made read-only. The
  decision store's transactions, the many small ones, take a check that passed within the last
  ``CHECK_HOLDS_SECONDS`` as their own (:meth:`SqliteFile.unchanged`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    NotSupportedError,
    ProgrammingError,
)

from hostwarden.errors import StorageError

MAX_REASON = 160
ACCESS_EVERY = 256  # checks of an unchanged file between two access(2) calls
# How long a file check that passed holds for the decision store: under load one stat(2) per
# 5 ms instead of one per transaction (a tenth of a lone decision's cost inside the bot).
CHECK_HOLDS_SECONDS = 0.005
# Waiting for a lock is contention, not loss: SQLite's busy timeout already waited 30 s.
_CONTENTION = ("database is locked", "database table is locked", "busy")


def _short(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:MAX_REASON]


def one_line(exc: BaseException, text: str | None = None) -> str:
    """``exc`` in one short line: its type and the first line of ``text`` (its own by default)."""
    message = _short(str(exc) if text is None else text)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# What the standard library driver raises when the database refused a statement (a constraint,
# a trigger's RAISE), not when it failed itself: the driver-level twin of the first line below.
_REFUSED = (
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.DataError,
    sqlite3.NotSupportedError,
)


def refusal(exc: BaseException) -> StorageError | None:
    """What the caller gets when the database refused ``exc``'s statement (no outage: its
    transaction was rolled back), or ``None`` when ``exc`` is something else."""
    return StorageError(f"not stored: {one_line(exc)}") if isinstance(exc, _REFUSED) else None


def unavailable_reason(exc: BaseException) -> str | None:
    """A short, secret-free reason if ``exc`` means the store cannot be used, else ``None``."""
    if isinstance(exc, IntegrityError | ProgrammingError | DataError | NotSupportedError):
        return None
    if isinstance(exc, DBAPIError):
        orig = exc.orig if exc.orig is not None else exc
        message = _short(str(orig))
        if not exc.connection_invalidated and any(c in message.lower() for c in _CONTENTION):
            return None
        # Driver messages ("unable to open database file", "connection refused") name no
        # credentials; SQLAlchemy's own text would add the statement and its parameters.
        return one_line(orig)
    if isinstance(exc, OSError | TimeoutError):  # refused, reset, unreachable, timed out
        return one_line(exc, (exc.strerror or str(exc)) if isinstance(exc, OSError) else "")
    return None


def _access_key(stat: os.stat_result) -> tuple[int, int, int, int]:
    """What a change of writability changes: mode, owner, group, change time."""
    return stat.st_mode, stat.st_uid, stat.st_gid, stat.st_ctime_ns


Identity = tuple[int, int]  # a file's device and inode
Companions = tuple[Identity | None, Identity | None]  # the -wal's and the -shm's (None: absent)


def _identity_of(where: str) -> Identity | None:
    try:
        stat = os.stat(where)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


class SqliteFile:
    """The SQLite file of a store: its identity at connect, and whether it must already exist."""

    def __init__(self, path: Path, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._monotonic = monotonic
        # The identity the last fast check found, unchanged and writable, and until when that
        # holds (one tuple: the loop and the checkpoint thread both ask).
        self._passed: tuple[tuple[int, int], float] | None = None
        # Why the file may not be used again by this process (its -wal was deleted under it).
        self._refused: str | None = None
        self._refusing = threading.Lock()
        self.must_exist = False
        self._identity: tuple[int, int] | None = None
        self.seen: tuple[int, int] | None = None  # the file's identity at the last check
        self._where = str(path)
        # Whether the file was writable, for the mode, owner and change time it was checked at:
        # access(2) is asked again when one of them changed, and every ACCESS_EVERY checks (a
        # read-only remount changes none of them; a write meanwhile fails closed on its own).
        self._access_key: tuple[int, int, int, int] | None = None
        self._access_checks = 0
        self._access_ok = False
        # The file last seen at the path, and why it may not be opened (None: it may).
        self._judged: tuple[tuple[int, int], str | None] | None = None

    @property
    def uri(self) -> str:
        """An SQLite URI that opens the file for reading and writing, never creating it."""
        return f"file:{quote(str(self.path))}?mode=rw"

    def connected(self) -> None:
        """Remember which file the newest connection opened (called from the connect event)."""
        try:
            stat = self.path.stat()
        except OSError:
            return
        self._identity = (stat.st_dev, stat.st_ino)

    def problem(self) -> tuple[str | None, bool]:
        """``(reason the file cannot be used, whether it was replaced since the pool opened it)``.

        Checked only once the store has started (:attr:`must_exist`): before that the first
        connection creates the file. A problem found here ends what the last fast check held.
        """
        if not self.must_exist:
            return None, False
        if self._refused is not None:
            return self._refused, False
        reason, replaced = self._problem()
        if reason is not None:
            self._passed = None
        return reason, replaced

    def _problem(self) -> tuple[str | None, bool]:
        try:
            stat = os.stat(self._where)
        except FileNotFoundError:
            return f"the database file {self.path} is missing", False
        except OSError as exc:
            return f"the database file {self.path} cannot be read ({exc.strerror})", False
        seen = self.seen = (stat.st_dev, stat.st_ino)
        replaced = self._identity is not None and self._identity != seen
        refusal = self._refusal(seen)
        if refusal is not None:
            return refusal, replaced
        if not self._writable(_access_key(stat)):
            return f"the database file {self.path} is not writable", replaced
        return None, replaced

    def _refusal(self, seen: tuple[int, int]) -> str | None:
        """Why the file now at the path, if it is not the one this process had, may not be
        opened: the old file's ``-wal`` is beside it. This process's connections still hold
        that WAL (and its ``-shm``) open; a connection to the new file would take them for its
        own and lay the old file's latest pages over it (``database disk image is malformed``).
        A file is judged when it is first seen, and a refused one again until that WAL is gone:
        a WAL made after that is the new file's own.
        """
        judged = self._judged
        if judged == (seen, None):
            return None
        refusal = None
        if judged is not None and os.path.exists(f"{self._where}-wal"):
            refusal = (
                f"the database file {self.path} was replaced while in use, with the old one's "
                "-wal beside it: stop hostwarden, remove that -wal and -shm if they remain, and "
                "start it again"
            )
        self._judged = (seen, refusal)
        return refusal

    def unchanged(self, identity: Identity | None, companions: Companions | None = None) -> bool:
        """Whether the started store's file is still ``identity`` and, as last asked, writable,
        and its ``-wal`` and ``-shm`` are still ``companions`` (when given: the ones a connection
        is attached to): :meth:`problem` in three ``stat`` calls, for the decision store's
        transactions. ``False`` only means "look closer": :meth:`problem` then says what, if
        anything, changed, and :meth:`companions` whether the WAL was replaced.

        A check that passed holds for ``CHECK_HOLDS_SECONDS``: a file deleted, replaced or made
        read-only is refused from the first transaction after that, at most 5 ms later (a
        decision in between commits to the file being removed, as any decision just before the
        removal did). At a few decisions a second, every one of them is checked.
        """
        if not self.must_exist or identity is None:
            return False
        now = self._monotonic()
        passed = self._passed
        if passed is not None and now < passed[1] and passed[0] == identity:
            return True
        try:
            stat = os.stat(self._where)
        except OSError:
            return False
        if (
            (stat.st_dev, stat.st_ino) != identity
            or self._refused is not None
            or self._access_checks >= ACCESS_EVERY
            or not self._access_ok
            or _access_key(stat) != self._access_key
            or (companions is not None and self.companions() != companions)
        ):
            return False
        self._access_checks += 1
        self._passed = (identity, now + CHECK_HOLDS_SECONDS)
        return True

    def companions(self) -> Companions:
        """The identities of the file's ``-wal`` and ``-shm`` now."""
        return _identity_of(f"{self._where}-wal"), _identity_of(f"{self._where}-shm")

    @property
    def refused(self) -> bool:
        """Whether the file is refused until a restart (:meth:`refuse`): its connections are
        then kept as they are, not closed (closing the last one to a deleted WAL would copy it
        into the file, which another process may have written since)."""
        return self._refused is not None

    def refuse(self, why: Callable[[], str]) -> str:
        """Refuse the file from now on, in this process, for the reason ``why()`` gives (asked
        once: the loop and the checkpoint thread may both find it); :meth:`problem` says it."""
        with self._refusing:
            if self._refused is None:
                self._refused = why()
            self._passed = None
            return self._refused

    def _writable(self, key: tuple[int, int, int, int]) -> bool:
        if key != self._access_key or self._access_checks >= ACCESS_EVERY:
            self._access_key, self._access_checks = key, 0
            self._access_ok = os.access(self._where, os.R_OK | os.W_OK)
        else:
            self._access_checks += 1
        return self._access_ok
