"""``hostwarden hosts add|list|remove`` and ``hostwarden agent enroll``, through typer's runner.

The agent enrols against a real console served by uvicorn on loopback, in a thread with its own
event loop and its own store on the hub's SQLite file (as ``hostwarden web`` would run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.x509 import load_pem_x509_certificate
from typer.testing import CliRunner

from hostwarden.cli.app import app
from hostwarden.config import StorageSettings
from hostwarden.core.clock import SystemClock
from hostwarden.core.service import AccessCore
from hostwarden.fleet.identity import AgentFiles
from hostwarden.fleet.pki import HubCA, fingerprint
from hostwarden.fleet.tls import HubPin
from hostwarden.storage.sql import SqlStore
from hostwarden.web.actions import web_policy
from hostwarden.web.server import listen, make_server, serve_until
from tests.pgserver import free_port
from tests.web.conftest import fake_services, web_settings

runner = CliRunner()
AGENT_URL = f"https://127.0.0.1:{free_port()}"  # nobody listens there


def hw(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def hub_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hub's data directory, given through the environment; no config file around."""
    data = tmp_path / "hub"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOSTWARDEN_CONFIG", raising=False)
    monkeypatch.setenv("HOSTWARDEN_STORAGE__DATA_DIR", str(data))
    return data


@contextlib.contextmanager
def live_console(data: Path) -> Iterator[str]:
    """The hub's console on a free loopback port (plain HTTP: loopback only) for the block."""
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        settings = web_settings(storage=StorageSettings(data_dir=data))
        core = AccessCore(
            SqlStore(str(data / "hostwarden.db")), settings.core(), SystemClock(), web_policy()
        )
        await core.start()
        server = make_server(core, settings, "127.0.0.1", port, fake_services(settings))
        try:
            await serve_until(server, stop, sock)
        finally:
            await core.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"  # the socket already listens: connections queue
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def test_add_enrol_list_remove(hub_data: Path, tmp_path: Path) -> None:
    code, token, err = hw("hosts", "add", "db1", "--url", AGENT_URL)
    assert code == 0, err
    token = token.strip()
    assert token.startswith("hw1.db1.") and "agent enroll" in err and token not in err
    fleet = hub_data / "fleet"
    assert stat.S_IMODE(fleet.stat().st_mode) == 0o700
    assert stat.S_IMODE((fleet / "ca.key").stat().st_mode) == 0o600
    [pending] = json.loads(hw("hosts", "list", "--json")[1])
    assert pending["name"] == "db1" and pending["state"] == "pending"

    agent = tmp_path / "agent"
    with live_console(hub_data) as url:
        code, out, err = hw("agent", "enroll", "--hub", url, "--token", token, "--data", str(agent))
        assert code == 0, err
        assert out.startswith("enrolled as db1;")
        # The same token again: refused, and nothing of the first enrolment is replaced.
        code, _, err = hw(
            "agent", "enroll", "--hub", url, "--token", token, "--data", str(tmp_path / "again")
        )
        assert code == 2 and err.strip() == "error: enrolment refused"
        assert not (tmp_path / "again").exists()
    files = AgentFiles(agent)
    assert stat.S_IMODE(agent.stat().st_mode) == 0o700
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert HubPin.load(files.hub_pin).fingerprint == HubCA.load(fleet).client_fingerprint
    [host] = json.loads(hw("hosts", "list", "--json")[1])
    assert host["fingerprint"] == fingerprint(load_pem_x509_certificate(files.cert.read_bytes()))
    assert host["name"] == "db1" and host["state"] == "enrolled" and host["last_seen"] is None
    assert host["url"] == AGENT_URL and host["reachable"] == "no (connection refused)"
    code, table, _ = hw("hosts", "list")
    assert "db1" in table and "never" in table and "refused)" in table
    assert json.loads(hw("hosts", "list", "--json", "--no-probe")[1])[0]["reachable"] is None

    assert hw("hosts", "remove", "db1", "--yes")[:2] == (0, "removed db1\n")
    assert json.loads(hw("hosts", "list", "--json")[1]) == []
    code, _, err = hw("hosts", "remove", "db1", "--yes")
    assert code == 2 and err.strip() == "error: no host named db1"
    _, events, _ = hw("audit", "tail", "--json", "--kind", "host.removed")
    [removed] = [json.loads(line) for line in events.splitlines()]
    assert removed["subject"] == "host:db1"
    _, everything, _ = hw("audit", "tail", "--json", "-n", "100")
    assert token.split(".")[2] not in everything  # the token's secret is in no event


def test_an_agent_checks_the_token_before_anything(hub_data: Path, tmp_path: Path) -> None:
    agent = str(tmp_path / "agent")
    code, _, err = hw("agent", "enroll", "--hub", "https://h", "--token", "nope", "--data", agent)
    assert code == 2 and err.strip() == "error: that is not an enrolment token"
    token = "hw1.db1." + "a" * 32 + "." + "b" * 64
    code, _, err = hw("agent", "enroll", "--hub", "http://192.0.2.1", "--token", token)
    assert code == 2 and "in clear" in err
    code, _, err = hw(
        "agent", "enroll", "--hub", "https://h", "--token", token, "--name", "db2", "--data", agent
    )
    assert code == 2 and err.strip() == "error: this token enrols host db1, not db2"
    assert not (tmp_path / "agent").exists()


def test_add_refuses_bad_input_in_one_line(hub_data: Path) -> None:
    for args, message in [
        (("Bad_Name",), "host names are"),
        (("db1", "--url", "http://10.0.0.5"), "https://HOST:PORT"),
        (("db1", "--minutes", "0"), "minutes"),
        (("db1", "--minutes", "1441"), "minutes"),
    ]:
        code, out, err = hw("hosts", "add", *args)
        assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_remove_asks_unless_told(hub_data: Path) -> None:
    assert hw("hosts", "add", "db1")[0] == 0
    code, _, err = hw("hosts", "remove", "db1")
    assert code == 2 and "--yes" in err
    assert json.loads(hw("hosts", "list", "--json")[1])[0]["name"] == "db1"
    assert hw("hosts", "remove", "db1", "-y")[0] == 0  # a pending token goes too
    assert json.loads(hw("hosts", "list", "--json")[1]) == []
