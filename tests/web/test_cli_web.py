"""`hostwarden web`: serves from a config file, stops cleanly on SIGTERM, refuses in one line."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from hostwarden.cli import bot as cli_bot
from hostwarden.cli.app import app
from hostwarden.config import load_settings
from hostwarden.configfile import write_config
from hostwarden.errors import ConfigError
from hostwarden.web import server
from hostwarden.web.server import make_server
from hostwarden.web.settings import WebSettings
from tests.pgserver import free_port
from tests.web.conftest import web_settings


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


async def test_a_taken_port_is_one_line_and_a_failed_exit(tmp_path: Path) -> None:
    config = tmp_path / "hostwarden.yaml"
    write_config(config, tmp_path / "data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hostwarden", "web", "-c", str(config), "--port", str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert stderr.decode().splitlines() == [f"error: port {port} on 127.0.0.1 is already in use"]
    assert "Traceback" not in stdout.decode() + stderr.decode()
    assert "console on" not in stdout.decode()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "console.example.org"])  # noqa: S104
def test_plain_http_off_loopback_is_refused_whatever_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    config = tmp_path / "hostwarden.yaml"
    write_config(config, tmp_path / "data")
    monkeypatch.setenv("HOSTWARDEN_WEB__PLAIN_HTTP", "true")
    started: list[object] = []
    monkeypatch.setattr(cli_bot, "run_front_end", lambda *args: started.append(args))
    monkeypatch.setattr(server, "listen", lambda *args: started.append(args))
    result = CliRunner().invoke(app, ["web", "-c", str(config), "--host", host])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"error: web.plain_http is allowed only when web.host is a loopback address, "
        f"and {host!r} is not one"
    ]
    assert started == [] and "Traceback" not in result.output


def test_plain_http_off_loopback_is_refused_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "hostwarden.yaml"
    write_config(config, tmp_path / "data")
    monkeypatch.setenv("HOSTWARDEN_WEB__PLAIN_HTTP", "true")
    monkeypatch.setenv("HOSTWARDEN_WEB__HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setattr(cli_bot, "run_front_end", lambda *args: pytest.fail("it served"))
    result = CliRunner().invoke(app, ["web", "-c", str(config)])
    assert result.exit_code == 2 and "loopback" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_make_server_checks_its_host_override_too() -> None:
    settings = web_settings(web=WebSettings(plain_http=True))
    with pytest.raises(ConfigError, match="loopback"):
        make_server(None, settings, host="0.0.0.0")  # type: ignore[arg-type]  # noqa: S104


def test_numeric_web_settings_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value, bound in (("PORT", "70000", "65535"), ("TRUSTED_HOPS", "1000", "10")):
        monkeypatch.setenv(f"HOSTWARDEN_WEB__{name}", value)
        with pytest.raises(ConfigError) as raised:
            load_settings(None)
        [problem] = raised.value.problems
        assert problem.startswith(f"environment HOSTWARDEN_WEB__{name}: web.{name.lower()}: ")
        assert bound in problem
        monkeypatch.delenv(f"HOSTWARDEN_WEB__{name}")
