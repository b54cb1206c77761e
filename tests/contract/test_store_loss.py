"""A database lost under a running core: it fails closed, says so once, alerts the notifiers
directly (the outbox is in the lost store), and serves again, unrestarted, once the database is
back. SQLite: the file deleted then restored, or made read-only then writable; PostgreSQL: its
server stopped then started (a server of this test's own, not the session's)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from hostwarden.core.clock import ManualClock
from hostwarden.core.health import StoreLossAlerts
from hostwarden.core.identity import Actor, Role
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings
from hostwarden.errors import StorageError
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.sql import SqlStore
from hostwarden.storage.sql.availability import unavailable_reason
from tests.conftest import fast_settings
from tests.pgserver import PgServer, find_bin

ALICE = 4711
BOB = 4712  # allowed by the configuration only
LOST = "store unavailable: {}; refusing every request until it is back"
BACK = "store is back; serving requests again"


class Notifier:
    """A notifier that records what it was sent, or fails every time (``works=False``)."""

    def __init__(self, works: bool = True) -> None:
        self.works = works
        self.texts: list[str] = []

    async def send(self, text: str) -> None:
        if not self.works:
            raise ConnectionError("this notifier is down too")
        self.texts.append(text)


class Running:
    """A started core over ``url``, with direct store-loss alerts to a broken and a working
    notifier."""

    def __init__(self, core: AccessCore, clock: ManualClock) -> None:
        self.core = core
        self.clock = clock
        self.notifier = Notifier()
        self.alerts = StoreLossAlerts(
            core.health, [Notifier(works=False).send, self.notifier.send], clock
        )

    async def alice_allowed(self) -> bool:
        self.clock.advance(1)
        return (await self.core.guard.decide(Actor(telegram_id=ALICE), "host.view")).allowed

    async def refused_every_time(self, times: int = 3) -> None:
        for _ in range(times):
            self.clock.advance(1)
            with pytest.raises(Exception):  # noqa: B017 - front ends drop on any exception
                await self.core.guard.decide(Actor(telegram_id=ALICE), "host.view")

    async def sent(self) -> list[str]:
        await self.alerts.drain()
        return self.notifier.texts


async def _started(url: str) -> Running:
    clock = ManualClock()
    # The SQLite file check holds 5 ms of this clock: each decision here comes a second later.
    store = SqlStore(url, monotonic=lambda: clock.now().timestamp())
    core = AccessCore(store, fast_settings(), clock)
    await core.start()
    return Running(core, clock)


async def _running(url: str) -> Running:
    running = await _started(url)
    await running.core.accounts.register(
        "alice", "a long enough password", frozenset({Role.USER}), (ALICE,)
    )
    return running


def store_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The store's own lines: lost, back (not the broken notifier's warnings)."""
    lines = [r.getMessage() for r in caplog.records if r.name == "hostwarden.store"]
    return [line for line in lines if line.startswith("store ")]


@pytest.fixture
def caplog_store(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="hostwarden.store")
    return caplog


@pytest.fixture
async def sqlite_running(tmp_path: Path) -> AsyncIterator[tuple[Running, Path]]:
    path = tmp_path / "hostwarden.db"
    running = await _running(str(path))
    yield running, path
    await running.core.close()


def _copy_aside(path: Path, aside: Path) -> None:
    """A consistent copy of a live SQLite database (SQLite's backup API), as a backup tool makes."""
    source, target = sqlite3.connect(path), sqlite3.connect(aside)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _delete(path: Path, suffixes: tuple[str, ...] = ("", "-wal", "-shm")) -> None:
    for suffix in suffixes:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _wal_beside(path: Path) -> bool:
    return Path(f"{path}-wal").exists()


def _read_only(path: Path) -> Callable[[], object]:
    """Make ``path`` unwritable to this process; returns how to undo it.

    Root writes through mode bits, so as root the immutable attribute is set instead.
    """
    if os.geteuid() != 0:
        path.chmod(0o400)
        return lambda: path.chmod(0o600)
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("running as root and chattr +i is not supported here")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


async def test_a_deleted_sqlite_file_fails_closed_until_restored(
    sqlite_running: tuple[Running, Path], caplog_store: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    running, path = sqlite_running
    assert await running.alice_allowed()
    _copy_aside(path, tmp_path / "aside.db")
    _delete(path)

    await running.refused_every_time()
    assert not path.exists()  # not recreated empty, which would forget every block and user
    assert store_lines(caplog_store) == [LOST.format(f"the database file {path} is missing")]
    [alert] = await running.sent()
    assert alert.startswith("<b>Store unavailable</b>") and "is missing" in alert

    shutil.copyfile(tmp_path / "aside.db", path)
    assert await running.alice_allowed()  # the same core, not restarted
    assert store_lines(caplog_store)[1:] == [BACK]
    assert (await running.sent())[1].startswith("<b>Store is back</b>")
    assert running.core.health.available


async def test_a_copy_restored_in_another_journal_mode_is_served_not_refused(
    sqlite_running: tuple[Running, Path], tmp_path: Path
) -> None:
    """A copy made with ``VACUUM INTO`` (or by other tools) is in rollback-journal mode: the
    decision store's connection puts it back in WAL mode, so its -wal and -shm are there from
    the start, and the pool's connections making them later is no WAL deleted under it."""
    running, path = sqlite_running
    assert await running.alice_allowed()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("VACUUM INTO ?", (str(tmp_path / "aside.db"),))
    _delete(path)
    await running.refused_every_time(1)

    shutil.copyfile(tmp_path / "aside.db", path)
    assert await running.alice_allowed()
    await running.core.store.audit.query(AuditQuery(limit=1))  # the pool connects again
    for _ in range(3):
        assert await running.alice_allowed()
    assert running.core.health.available


async def test_a_restored_file_older_than_a_first_contact_gets_its_account_made_again(
    tmp_path: Path,
) -> None:
    """A config-declared ID's account is made on its first contact, once a process: restored
    from a copy taken before that, the store lacks it, and the ID must not become a stranger
    (counted, blocked, reported) for the rest of the process's life."""
    path = tmp_path / "hostwarden.db"
    clock = ManualClock()
    settings = fast_settings(access=AccessSettings(allowed_telegram_ids=[BOB]))
    core = AccessCore(SqlStore(str(path)), settings, clock)
    await core.start()
    try:
        _copy_aside(path, tmp_path / "backup.db")  # before Bob ever wrote
        assert (await core.guard.decide(Actor(telegram_id=BOB), "host.view")).allowed
        _delete(path)
        clock.advance(1)
        with pytest.raises(StorageError):
            await core.guard.decide(Actor(telegram_id=BOB), "host.view")
        shutil.copyfile(tmp_path / "backup.db", path)
        for _ in range(3):
            clock.advance(1)
            decision = await core.guard.decide(Actor(telegram_id=BOB), "host.view")
            assert decision.allowed, decision.reason
    finally:
        await core.close()


async def test_a_file_replaced_under_its_old_wal_is_refused_not_mixed_with_it(
    sqlite_running: tuple[Running, Path], caplog_store: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A backup renamed over the live file (or restored after deleting the file alone): the
    old file's -wal is still beside it, held by this process. Opened, the new file would get
    the old one's latest pages over it; it is refused until hostwarden is restarted."""
    running, path = sqlite_running
    assert await running.alice_allowed()
    _copy_aside(path, tmp_path / "backup.db")
    for _ in range(20):  # the old file moves on: its WAL holds pages the backup lacks
        assert await running.alice_allowed()
    os.replace(tmp_path / "backup.db", path)
    restored = path.read_bytes()

    await running.refused_every_time()
    assert _wal_beside(path)
    [line] = store_lines(caplog_store)
    assert "was replaced while in use" in line and "-wal" in line
    assert path.read_bytes() == restored  # never opened, never written

    await running.core.close()
    assert _wal_beside(path)  # SQLite keeps a WAL whose file was moved: removed as the line says
    _delete(path, ("-wal", "-shm"))
    again = await _started(str(path))
    try:
        assert await again.alice_allowed()
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        await again.core.close()


async def _integrity_and_count(path: Path) -> list[str]:
    """``PRAGMA integrity_check`` and alice's counter (``-`` if there is none) in the file at
    ``path``, read by another process (SQLite shares a file's -shm among one process's
    connections)."""
    read = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "ok = c.execute('PRAGMA integrity_check').fetchone()[0]; "
        "tables = {r[0] for r in c.execute('SELECT name FROM sqlite_master')}; "
        "row = c.execute('SELECT count FROM counters WHERE key = ?', (sys.argv[2],)).fetchone() "
        "if 'counters' in tables else None; "
        "print(ok, row[0] if row else '-')"
    )
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-c", read, str(path), f"rate:tg:{ALICE}", stdout=subprocess.PIPE
    )
    out, _ = await reader.communicate()
    return out.decode().split()


async def test_a_wal_deleted_under_a_running_store_is_refused_and_what_it_held_is_rescued(
    sqlite_running: tuple[Running, Path], caplog_store: pytest.LogCaptureFixture
) -> None:
    """The -wal and -shm deleted (taken for leftovers): decisions committed after it would go to
    a WAL nobody can find again, lost at exit, and a new connection would start a WAL of its
    own beside it. So it is refused until a restart, and what the old WAL holds is copied, by
    the connection that can still read it, to a file beside the database (never into it)."""
    running, path = sqlite_running
    for _ in range(5):
        assert await running.alice_allowed()
    assert _wal_beside(path)
    before = await _integrity_and_count(path)
    _delete(path, ("-wal", "-shm"))

    await running.refused_every_time()
    copy = path.with_name(f"{path.name}.rescued-{os.getpid()}")
    [line] = store_lines(caplog_store)
    assert line == LOST.format(
        f"the -wal or -shm of {path} was deleted while in use: the database as this process saw "
        f"it is copied to {copy}; stop hostwarden, check that copy and put it in place if it is "
        "wanted, then start hostwarden"
    )
    assert await _integrity_and_count(copy) == ["ok", "5"]  # every acknowledged decision
    assert copy.stat().st_mode & 0o777 == 0o600  # it holds password hashes, as the database
    # The live file was not written: without its WAL it holds what the last checkpoint put
    # there (here not even the tables the migrations made), still a sound database.
    assert await _integrity_and_count(path) == ["ok", "-"]
    assert before == ["ok", "5"]
    await running.refused_every_time(1)  # a WAL at the path again changes nothing until then


async def test_a_read_only_sqlite_file_fails_closed_until_writable(
    sqlite_running: tuple[Running, Path], caplog_store: pytest.LogCaptureFixture
) -> None:
    running, path = sqlite_running
    assert await running.alice_allowed()
    undo = _read_only(path)
    try:
        await running.refused_every_time()
        assert store_lines(caplog_store) == [
            LOST.format(f"the database file {path} is not writable")
        ]
        [alert] = await running.sent()
        assert "is not writable" in alert
    finally:
        undo()
    assert await running.alice_allowed()
    assert store_lines(caplog_store)[1:] == [BACK]
    assert len(await running.sent()) == 2


async def test_a_stopped_postgresql_server_fails_closed_until_it_is_back(
    caplog_store: pytest.LogCaptureFixture,
) -> None:
    if not find_bin("initdb"):
        pytest.fail("PostgreSQL server binaries not found: run ./scripts/test, which installs them")
    server = PgServer()  # its own: stopping the session's server would break other tests
    server.start()
    try:
        running = await _running(server.url)
        try:
            assert await running.alice_allowed()
            server.pause()
            await running.refused_every_time()
            [line] = store_lines(caplog_store)
            assert line.startswith("store unavailable: ") and "refusing every request" in line
            [alert] = await running.sent()
            assert alert.startswith("<b>Store unavailable</b>")
            server.resume()
            assert await running.alice_allowed()
            assert store_lines(caplog_store)[1:] == [BACK]
        finally:
            await running.core.close()
    finally:
        server.stop()


async def test_housekeeping_outlives_a_lost_store(sqlite_running: tuple[Running, Path]) -> None:
    running, path = sqlite_running
    _delete(path)
    stop = asyncio.Event()
    rounds = 0

    async def tick(_seconds: float) -> None:  # no real waiting: count rounds, stop after three
        nonlocal rounds
        rounds += 1
        if rounds > 3:
            stop.set()

    assert await running.core.maintain_forever(stop, tick) == 3  # failing rounds, none fatal


async def test_a_started_sqlite_store_never_creates_its_file_again(tmp_path: Path) -> None:
    path = tmp_path / "hostwarden.db"
    store = SqlStore(str(path))
    await store.start()  # the first start creates the file
    await store.db.dispose()
    _delete(path)
    # Even a connection opened past the store's own checks (a race) must not create it.
    threads = set(threading.enumerate())
    with pytest.raises(OperationalError, match="unable to open"):
        async with store.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    assert not path.exists()
    for thread in set(threading.enumerate()) - threads:
        thread.join(timeout=10)  # aiosqlite's worker of the failed connection, stopping
    await store.close()


def test_only_a_lost_database_counts_as_unavailable() -> None:
    def operational(message: str) -> OperationalError:
        return OperationalError(
            "SELECT secret FROM t WHERE x = ?", ("hunter2",), Exception(message)
        )

    reason = unavailable_reason(operational("unable to open database file"))
    assert reason == "Exception: unable to open database file"  # no statement, no parameters
    assert unavailable_reason(operational("database is locked")) is None  # contention
    assert unavailable_reason(IntegrityError("INSERT", (), Exception("UNIQUE failed"))) is None
    assert unavailable_reason(ConnectionRefusedError(111, "Connection refused")) == (
        "ConnectionRefusedError: Connection refused"
    )
    assert unavailable_reason(StorageError("not found")) is None
    assert unavailable_reason(ValueError("bug")) is None
