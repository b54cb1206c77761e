"""``hostwarden agent serve``: one line when not enrolled; serves the hub until SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hostwarden.cli.root import app
from hostwarden.fleet.remote import RemoteHost
from tests.fleet.agent_kit import Pki, free_port, hostname, no_wait


def test_an_agent_not_enrolled_says_what_to_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["agent", "serve", "--data", str(tmp_path / "none")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "hostwarden agent enroll" in lines[0]


def test_a_bad_listen_address_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["agent", "serve", "--listen", "nowhere"])
    assert result.exit_code == 2 and "HOST:PORT" in result.output


async def wait_for_line(process: asyncio.subprocess.Process, text: str) -> None:
    """Read the agent's log lines (each within 30 s) until one holds ``text``."""
    assert process.stdout is not None
    seen = []
    while line := (await asyncio.wait_for(process.stdout.readline(), 30)).decode():
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"the agent never logged {text!r}: {seen[-5:]}")


async def test_the_command_serves_the_hub_read_only_until_sigterm(tmp_path: Path) -> None:
    pki = Pki.make(tmp_path)
    files = pki.enrol("db1")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hostwarden", "agent", "serve", "--listen", f"127.0.0.1:{port}",
        "--data", str(files.directory), "--read-only", "--docker-url", "unix:///nonexistent.sock",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await wait_for_line(process, "agent listening on")
        url = f"https://127.0.0.1:{port}"
        host = RemoteHost("db1", url, pki.hub_context(), hostname("db1"), sleep=no_wait)
        try:
            assert (await host.version()).read_only
        finally:
            await host.close()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stdout is not None
    for line in (await process.stdout.read()).decode().splitlines():
        json.loads(line)  # JSON log lines only: no traceback


def test_a_config_file_sets_the_agents_monitor_and_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hostwarden.fleet import agent as agent_module

    seen: dict[str, Any] = {}

    def fake_run(
        files: Any, listen: str, read_only: bool, docker_url: Any, **sections: Any
    ) -> None:
        seen.update(sections, docker_url=docker_url, read_only=read_only)

    monkeypatch.setattr(agent_module, "run_agent", fake_run)
    config = tmp_path / "agent.yaml"
    config.write_text(
        "monitor:\n  cpu_percent: 75\n  watch_containers: false\n"
        "containers:\n  docker_url: unix:///run/podman/podman.sock\n"
    )
    config.chmod(0o600)
    result = CliRunner().invoke(app, ["agent", "serve", "--config", str(config), "--read-only"])
    assert result.exit_code == 0, result.output
    assert seen["monitor"].cpu_percent == 75 and not seen["monitor"].watch_containers
    assert seen["containers"].docker_url == "unix:///run/podman/podman.sock"
    assert seen["read_only"] is True and seen["docker_url"] is None
    # Without --config, nothing is read (not even ./hostwarden.yaml): defaults.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hostwarden.yaml").write_text("monitor:\n  cpu_percent: 10\n")
    result = CliRunner().invoke(app, ["agent", "serve"])
    assert result.exit_code == 0 and seen["monitor"] is None
