"""The SQLite file check before each transaction: one stat, and access(2) only now and then."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostwarden.storage.sql import availability
from hostwarden.storage.sql.availability import ACCESS_EVERY, SqliteFile


def test_access_is_asked_when_the_file_changes_and_every_so_many_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"")
    asked: list[str] = []
    writable = [True]

    def access(target: object, mode: int) -> bool:
        asked.append(str(target))
        return writable[0]

    monkeypatch.setattr(availability.os, "access", access)
    file = SqliteFile(path)
    file.must_exist = True
    for _ in range(ACCESS_EVERY + 1):
        assert file.problem() == (None, False)
    assert len(asked) == 1  # an unchanged file: asked once
    writable[0] = False  # a read-only remount changes neither mode, owner nor change time
    reason, _ = file.problem()
    assert reason is not None and "not writable" in reason  # asked again after the budget
    os.chmod(path, 0o600)  # a change of mode is seen at once
    writable[0] = True
    assert file.problem() == (None, False)
    assert len(asked) == 3
