"""`hostwarden demo` runs the walkthrough offline and leaves its state in the SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_offline_on_sqlite(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hostwarden", "demo", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "message 3: drop (blocked now)" in out
    assert "host.view: allow" in out and "containers.manage: deny" in out
    assert "now: ask_totp" in out and "replayed" in out
    assert "right password while blocked: Incorrect username or password." in out
    assert "987654321" not in out  # the stranger's ID only appears masked
    assert (tmp_path / "hostwarden.db").is_file()
