"""`hostwarden demo` runs the whole product offline: bot, sandboxed Telegram, SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_bot_against_the_sandbox_on_sqlite(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hostwarden", "demo", "--data-dir", str(tmp_path), "--port", "0",
         "--web-port", "0", "--no-stay"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Your Telegram ID is 987654321" in out  # /getmyid: the stranger's one answer
    assert "Unauthorized access attempt" in out and "Unknown user blocked" in out
    assert "98*****21" in out
    assert "Access denied." in out  # alice may not restart containers
    assert "Wrong 2FA code" in out and "✅ Code accepted." in out
    assert "Block lifted" in out and "block.lifted" in out
    assert "The web console" in out and "--stay" in out
    assert "password" not in out and "http://127.0.0.1" not in out  # stopped: not advertised
    assert result.stderr == ""
    assert (tmp_path / "hostwarden.db").is_file()
    lines = (tmp_path / "hostwarden.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert any(r.get("event") == "block.created" for r in records)
    assert all("987654321" not in line for line in lines)  # IDs only masked in logs
