"""`hostwarden doctor`: all checks pass on a good setup; each broken part fails with its fix."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from typer.testing import CliRunner

from hostwarden.cli.app import app
from hostwarden.cli.checks import clock_skew
from hostwarden.cli.doctor import run_checks
from hostwarden.configfile import write_config
from hostwarden.sandbox.server import serve
from tests.doubles import serve_app

runner = CliRunner()
TOKEN = "123456:" + "A" * 35


@contextlib.asynccontextmanager
async def engine_double() -> AsyncIterator[str]:
    """A container engine that answers the docker SDK's ping (any API version)."""

    async def answer(request: web.Request) -> web.Response:
        if request.path.endswith("/_ping"):
            return web.Response(text="OK")
        return web.json_response({"ApiVersion": "1.43", "Version": "24.0.0"})

    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", answer)
    async with serve_app(application) as port:
        yield f"tcp://127.0.0.1:{port}"


def good_config(tmp_path: Path, api_base: str, docker_url: str) -> Path:
    path = tmp_path / "hostwarden.yaml"
    write_config(path, Path("data"))
    data = yaml.safe_load(path.read_text())
    data["telegram"] |= {"token": TOKEN, "api_base": api_base, "admin_chat_ids": [42]}
    data["containers"]["docker_url"] = docker_url
    path.write_text(yaml.safe_dump(data))
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["doctor", *args])
    return result.exit_code, result.stdout


async def test_a_good_setup_passes_every_check(tmp_path: Path) -> None:
    async with serve(TOKEN) as sandbox, engine_double() as docker_url:
        config = good_config(tmp_path, sandbox.url, docker_url)
        created = await asyncio.to_thread(runner.invoke, app, ["users", "list", "-c", str(config)])
        assert created.exit_code == 0, created.stderr  # makes the database, migrated
        code, out = await asyncio.to_thread(invoke, "-c", str(config))
    lines = out.splitlines()
    assert code == 0, out
    assert [line.split(" ", 2)[:2] for line in lines[:-1]] == [
        ["ok", "config:"],
        ["ok", "settings:"],
        ["ok", "secrets:"],
        ["ok", "data"],
        ["ok", "database:"],
        ["ok", "telegram:"],
        ["ok", "clock:"],
        ["ok", "engine:"],
        ["ok", "alerts:"],
    ]
    assert lines[-1] == "all checks passed"
    assert TOKEN not in out and TOKEN.split(":")[1] not in out
    key = yaml.safe_load(config.read_text())["totp"]["encryption_key"]
    assert key not in out


async def test_each_broken_part_fails_with_its_fix(tmp_path: Path) -> None:
    async with serve("999:" + "B" * 35) as sandbox:  # accepts another token: ours is refused
        config = good_config(tmp_path, sandbox.url, "tcp://127.0.0.1:1")
        data = yaml.safe_load(config.read_text())
        data["telegram"]["admin_chat_ids"] = []
        config.write_text(yaml.safe_dump(data))
        (tmp_path / "data").mkdir(mode=0o755)
        (tmp_path / "data").chmod(0o755)
        config.chmod(0o644)
        code, out = await asyncio.to_thread(invoke, "-c", str(config))
    assert code == 1
    by_name = {line.split(" ")[1].rstrip(":"): line for line in out.splitlines()[:-1]}
    assert by_name["config"].startswith("FAIL") and f"chmod 600 {config}" in by_name["config"]
    assert by_name["data"].startswith("warn") and "chmod 700" in by_name["data"]
    assert by_name["telegram"].startswith("FAIL") and "refused the token" in by_name["telegram"]
    assert by_name["engine"].startswith("FAIL") and "docker_url" in by_name["engine"]
    assert by_name["alerts"].startswith("FAIL") and "admin_chat_ids" in by_name["alerts"]
    assert out.splitlines()[-1] == "4 check(s) failed"
    assert TOKEN not in out


def test_settings_that_do_not_load_fail_and_skip_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("lockout:\n  window_seconds: -1\n")
    path.chmod(0o600)
    code, out = invoke("-c", str(path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("ok config:")
    assert lines[1].startswith("FAIL settings:") and "lockout.window_seconds" in lines[1]
    assert lines[2].startswith("skip")
    assert "Traceback" not in out


async def test_a_missing_token_is_a_failure_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "h.yaml"
    write_config(path, Path("data"))
    found = {c.name: c for c in await run_checks(path, None)}
    assert found["secrets"].status == "FAIL" and "telegram.token" in found["secrets"].detail
    assert found["telegram"].status == "skip" and found["clock"].status == "skip"


@pytest.mark.parametrize(
    ("offset", "status"),
    [(0, "ok"), (-5, "ok"), (12, "warn"), (-20, "warn"), (31, "FAIL"), (-3600, "FAIL")],
)
def test_clock_skew_against_the_servers_date(offset: int, status: str) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    server = format_datetime(now - timedelta(seconds=offset), usegmt=True)
    check = clock_skew(server, now)
    assert check.status == status
    if status != "ok":
        assert "timedatectl" in check.fix
    if offset:
        assert re.search(rf"{abs(offset)} s (ahead of|behind)", check.detail)
    assert clock_skew(None, now).status == "skip"
