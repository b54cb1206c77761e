"""What a store does when the ``-wal`` or ``-shm`` of its database was deleted under it.

Decisions would go on committing to a WAL nobody can find again (lost when the process exits),
and a connection opened now would start a WAL of its own beside the one this process's
connections still use: the store refuses every request until hostwarden is restarted
(:meth:`~.availability.SqliteFile.refuse`). What the old WAL holds is the newest data, and
only this process can still read it: :func:`rescue` copies the database as the connection on
that WAL sees it to a new file beside the database, through SQLite's backup API. It never
writes the live file: another process may have started a new WAL there meanwhile, and pages
copied over its own would corrupt it (an outside attack did that with a checkpoint), nor could
a copy cut short by ``kill -9`` be finished or undone, the WAL being gone from the path.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path


def rescue(conn: sqlite3.Connection, path: Path) -> str:
    """Copy what ``conn`` sees of the database at ``path`` to ``<name>.rescued-<pid>`` (mode
    0600, like the database: it holds password hashes) and say, in one line, why the store is
    refused and where the copy is."""
    copy = path.with_name(f"{path.name}.rescued-{os.getpid()}")
    partial = copy.with_name(f"{copy.name}.partial")
    lost = f"the -wal or -shm of {path} was deleted while in use"
    try:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        target = sqlite3.connect(partial)
        try:
            conn.backup(target)
        finally:
            target.close()
        os.replace(partial, copy)
    except (sqlite3.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        failed = type(exc).__name__
        return f"{lost}, and no copy of what it held could be made ({failed}): restart hostwarden"
    return (
        f"{lost}: the database as this process saw it is copied to {copy}; stop hostwarden, "
        "check that copy and put it in place if it is wanted, then start hostwarden"
    )
