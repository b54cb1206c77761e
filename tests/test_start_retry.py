"""Network errors at start are retried with back-off, logged once per try, then one line."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest
import yaml
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import GetMe
from typer.testing import CliRunner

import hostwarden.runtime as runtime
from hostwarden.cli.app import app
from hostwarden.configfile import write_config
from hostwarden.errors import Unavailable
from hostwarden.runtime import retry_at_start

DOWN = TelegramNetworkError(method=GetMe(), message="Cannot connect to host")


def network(exc: BaseException) -> bool:
    return isinstance(exc, TelegramNetworkError)


class Sleeper:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_a_step_that_recovers_is_retried_with_growing_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tries = 0

    async def step() -> str:
        nonlocal tries
        tries += 1
        if tries < 4:
            raise DOWN
        return "up"

    sleep = Sleeper()
    with caplog.at_level(logging.WARNING, logger="hostwarden.start"):
        assert await retry_at_start(step, "reaching", network, sleep) == "up"
    assert tries == 4 and sleep.waits == [1, 2, 4]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert lines[0] == (
        "reaching failed (try 1 of 8): TelegramNetworkError: "
        "HTTP Client says - Cannot connect to host; next try in 1 s"
    )


async def test_it_gives_up_after_the_last_try_with_one_line() -> None:
    async def step() -> None:
        raise DOWN

    sleep = Sleeper()
    with pytest.raises(Unavailable) as raised:
        await retry_at_start(step, "reaching the Bot API", network, sleep)
    assert sleep.waits == [1, 2, 4, 8, 16, 32, 60]  # doubling, capped at a minute
    assert str(raised.value).startswith("reaching the Bot API failed 8 times, giving up: ")


async def test_other_errors_are_not_retried() -> None:
    async def step() -> None:
        raise ValueError("a bug, not the network")

    sleep = Sleeper()
    with pytest.raises(ValueError, match="a bug"):
        await retry_at_start(step, "x", network, sleep)
    assert sleep.waits == []


def test_only_telegram_being_down_is_worth_a_retry() -> None:
    from aiogram.exceptions import TelegramServerError, TelegramUnauthorizedError

    from hostwarden.runtime import _telegram_down

    assert _telegram_down(DOWN)
    assert _telegram_down(TelegramServerError(method=GetMe(), message="Bad Gateway"))
    bad_url = TelegramNetworkError(method=GetMe(), message="InvalidUrlClientError: http://x:99999")
    assert not _telegram_down(bad_url)  # a wrong api_base: no amount of waiting helps
    assert not _telegram_down(TelegramUnauthorizedError(method=GetMe(), message="Unauthorized"))
    assert not _telegram_down(ValueError("x"))


def test_the_bot_retries_an_unreachable_api_then_exits_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "START_ATTEMPTS", 3)
    monkeypatch.setattr(runtime, "START_WAIT", 0.0)  # no real waiting between tries
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "hostwarden.yaml"
    write_config(config, Path("data"))
    data = yaml.safe_load(config.read_text())
    token = "123456:" + "Q" * 35
    data["telegram"] |= {"token": token, "api_base": f"http://127.0.0.1:{port}"}
    data["access"]["admin_telegram_ids"] = [42]
    data["monitor"]["enabled"] = False
    config.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["bot", "-c", str(config)])
    assert result.exit_code == 75  # temporary: systemd restarts it (2, bad settings, it does not)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert errors[0].startswith("error: reaching the Bot API failed 3 times, giving up: ")
    logged = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    tries = [r["msg"] for r in logged if r["logger"] == "hostwarden.start"]
    assert [t.split(":")[0] for t in tries] == [
        "reaching the Bot API failed (try 1 of 3)",
        "reaching the Bot API failed (try 2 of 3)",
        "reaching the Bot API failed 3 times, giving up",
    ]
    assert token not in result.stdout + result.stderr


def test_a_database_down_at_start_is_a_temporary_failure(tmp_path: Path) -> None:
    config = tmp_path / "hostwarden.yaml"
    write_config(config, Path("data"))
    data = yaml.safe_load(config.read_text())
    data["telegram"]["token"] = "123456:" + "Q" * 35
    data["access"]["admin_telegram_ids"] = [42]
    config.write_text(yaml.safe_dump(data))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = f"postgresql://hw:dbPASSWORD9@127.0.0.1:{port}/hw"
    result = CliRunner().invoke(app, ["bot", "-c", str(config), "--database", database])
    assert result.exit_code == 75  # systemd starts it again once PostgreSQL is up
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [errors[0]] and errors[0].startswith("error: the database is unreachable: ")
    assert "dbPASSWORD9" not in result.stderr
