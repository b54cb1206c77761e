"""The SQLite file check before each transaction: one stat, held for 5 ms, and access(2) only now
and then."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostwarden.storage.sql import availability
from hostwarden.storage.sql.availability import ACCESS_EVERY, CHECK_HOLDS_SECONDS, SqliteFile


class Ticks:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def lapse(self) -> None:
        """Move past what a passed check holds for."""
        self.now += CHECK_HOLDS_SECONDS


class Access:
    """access(2) as the file check sees it: what it was asked, and what it answers."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.asked: list[str] = []
        self.writable = True
        monkeypatch.setattr(availability.os, "access", self)

    def __call__(self, target: object, mode: int) -> bool:
        self.asked.append(str(target))
        return self.writable


def test_access_is_asked_when_the_file_changes_and_every_so_many_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"")
    access = Access(monkeypatch)
    asked = access.asked
    file = SqliteFile(path)
    file.must_exist = True
    for _ in range(ACCESS_EVERY + 1):
        assert file.problem() == (None, False)
    assert len(asked) == 1  # an unchanged file: asked once
    access.writable = False  # a read-only remount changes neither mode, owner nor change time
    reason, _ = file.problem()
    assert reason is not None and "not writable" in reason  # asked again after the budget
    os.chmod(path, 0o600)  # a change of mode is seen at once
    access.writable = True
    assert file.problem() == (None, False)
    assert len(asked) == 3


def test_the_check_before_each_transaction_passes_only_what_problem_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"")
    asked = Access(monkeypatch).asked
    ticks = Ticks()
    file = SqliteFile(path, ticks)
    assert not file.unchanged(None)  # not started: the slow path decides
    file.must_exist = True
    assert file.problem() == (None, False)
    seen = file.seen
    assert seen is not None
    assert not file.unchanged((seen[0], seen[1] + 1))  # another file than the connection's
    for _ in range(ACCESS_EVERY):
        ticks.lapse()
        assert file.unchanged(seen)
    ticks.lapse()
    assert not file.unchanged(seen)  # the budget spent: problem() asks access(2) again
    assert file.problem() == (None, False) and len(asked) == 2
    assert file.unchanged(seen)

    ticks.lapse()
    os.chmod(path, 0o400)  # made read-only
    assert not file.unchanged(seen)
    os.chmod(path, 0o600)
    assert file.problem() == (None, False) and file.unchanged(seen)

    ticks.lapse()
    replacement = tmp_path / "restored.db"
    replacement.write_bytes(b"")
    os.replace(replacement, path)  # restored from a backup
    assert not file.unchanged(seen)
    path.unlink()
    assert not file.unchanged(seen)
    assert file.problem()[0] is not None


def test_a_passed_check_holds_for_5_ms_of_its_own_file_only(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"")
    ticks = Ticks()
    file = SqliteFile(path, ticks)
    file.must_exist = True
    assert file.problem() == (None, False)
    seen = file.seen
    assert seen is not None
    assert file.unchanged(seen)

    path.unlink()  # within what the check holds, the deletion is not seen yet
    assert file.unchanged(seen)
    assert not file.unchanged((seen[0], seen[1] + 1))  # nor does it hold for another file
    ticks.now += CHECK_HOLDS_SECONDS * 0.99
    assert file.unchanged(seen)
    ticks.now += CHECK_HOLDS_SECONDS * 0.02
    assert not file.unchanged(seen)  # 5 ms on: the file is looked at again, and is gone

    path.write_bytes(b"")
    assert file.problem() == (None, False)
    seen = file.seen
    assert seen is not None and file.unchanged(seen)
    path.unlink()
    assert file.problem()[0] is not None  # a problem found by the full check
    assert not file.unchanged(seen)  # ends what the fast one held at once


def test_the_check_sees_the_wal_or_shm_replaced_under_a_connection(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"")
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    wal.write_bytes(b"")
    shm.write_bytes(b"")
    ticks = Ticks()
    file = SqliteFile(path, ticks)
    file.must_exist = True
    assert file.problem() == (None, False)
    seen, companions = file.seen, file.companions()
    assert seen is not None and None not in companions
    assert file.unchanged(seen, companions)
    held = wal.open("rb")  # as the connection holds it: its inode cannot be reused meanwhile
    wal.unlink()
    ticks.lapse()
    assert not file.unchanged(seen, companions)  # the -wal is gone
    wal.write_bytes(b"")
    assert not file.unchanged(seen, companions)  # another -wal is not the one
    assert file.unchanged(seen, file.companions())
    assert file.problem() == (None, False)  # the file itself is fine: the caller decides
    reason = file.refuse(lambda: "the -wal went")
    assert file.problem() == (reason, False)
    assert not file.unchanged(seen, file.companions())  # refused: no hold is left either
    held.close()
