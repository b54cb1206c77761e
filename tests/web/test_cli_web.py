"""`hostwarden web` serves the console from a config file and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httpx

from hostwarden.configfile import write_config
from tests.pgserver import free_port


async def test_hostwarden_web_serves_and_stops(tmp_path: Path) -> None:
    config = tmp_path / "hostwarden.yaml"
    write_config(config, tmp_path / "data")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hostwarden", "web", "-c", str(config), "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert f"console on 127.0.0.1:{port}" in line.decode()
        async with httpx.AsyncClient() as client:
            for _ in range(100):  # the line is printed just before uvicorn binds
                try:
                    response = await client.get(f"http://127.0.0.1:{port}/login")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
        assert response.status_code == 200
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "__Host-hw_csrf" in response.headers["set-cookie"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
