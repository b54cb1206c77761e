"""The agent's operation log: one JSON line per operation, 0600, rotated within its bound."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

from hostwarden.core.clock import ManualClock
from hostwarden.fleet.oplog import OperationLog


def test_each_operation_is_one_json_line_readable_by_the_owner_only(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    log = OperationLog(tmp_path / "ops" / "operations.log", clock)
    log.record("sha256:ab", "restart", "web\nfake line", "running")
    clock.advance(1)
    log.record("sha256:ab", "stop", "db", "refused:read-only")
    lines = (tmp_path / "ops" / "operations.log").read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first == {
        "at": "2026-05-01T00:00:00+00:00", "peer": "sha256:ab", "op": "restart",
        "target": "web\nfake line", "outcome": "running",
    }  # fmt: skip
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert [x["op"] for x in log.lines()] == ["restart", "stop"]


def test_the_log_rotates_and_never_holds_more_than_its_bound(tmp_path: Path) -> None:
    log = OperationLog(tmp_path / "operations.log", max_bytes=1000, keep=2)
    for number in range(200):
        log.record("sha256:" + "f" * 64, "restart", f"c{number}", "running")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["operations.log", "operations.log.1", "operations.log.2"]
    assert all(p.stat().st_size <= 1000 for p in tmp_path.iterdir())
    newest = log.lines()[-1]
    assert newest["target"] == "c199"
    kept = [json.loads(x) for p in tmp_path.iterdir() for x in p.read_text().splitlines()]
    assert len(kept) < 200 and {x["target"] for x in kept} >= {"c198", "c199"}
