"""End to end: one hub and three agents, each a real process on a host of its own.

Each host is a network namespace with its own podman service and storage, and runs
``hostwarden agent serve`` there (db1 with ``--read-only``); each was enrolled with a token from
``hostwarden hosts add`` and ``hostwarden agent enroll`` against the hub's console. The hub (the
bot against the Telegram sandbox, and the console) runs in this process on one SQLite store and a
manual clock (see ``e2e_hub``). The tests run in this order and share the fleet; the last removes
db1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from hostwarden.core.audit import Kind
from hostwarden.errors import InvalidInput, Unavailable
from hostwarden.fleet.pki import HubCA, agent_dns_name, ca_directory
from hostwarden.fleet.remote import RemoteHost
from hostwarden.storage.base import AuditEvent, AuditQuery
from tests.bot.conftest import ADMIN_ID
from tests.fleet import netns, trust_kit
from tests.fleet.agent_kit import no_wait
from tests.fleet.e2e_hosts import WEB, FleetHost, hostwarden, hub_env, shared_bytecode
from tests.fleet.e2e_hub import Hub, running_hub
from tests.web.conftest import ADMIN, confirmation_form

pytestmark = pytest.mark.asyncio(loop_scope="module")

NAMES = ("db1", "db2", "db3")


@dataclass
class Fleet:
    """The hub and its enrolled, running hosts; ``tokens`` as ``hosts add`` printed them."""

    hub: Hub
    hosts: dict[str, FleetHost]
    tokens: dict[str, str]

    def started(self) -> dict[str, str]:
        return {name: host.started_at(WEB) for name, host in self.hosts.items()}

    def remote(self, name: str) -> RemoteHost:
        found = self.hub.bot.services.hosts().get(name)
        assert isinstance(found, RemoteHost)
        return found

    async def actions(self) -> list[AuditEvent]:
        """``container.action`` events, newest first."""
        return await self.hub.bot.core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FleetHost]]:
    if (why := netns.available()) is not None:
        pytest.fail(why)
    root = tmp_path_factory.mktemp("fleet")
    with contextlib.ExitStack() as stack:
        hosts = {name: FleetHost(name, root / name, stack) for name in NAMES}
        hosts["db1"].read_only = True
        for host in hosts.values():
            host.run(WEB)  # removed with its podman service's storage
        yield hosts


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    async with running_hub(tmp_path_factory.mktemp("hub") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    with shared_bytecode(tmp_path_factory.mktemp("bytecode")) as warming:
        yield warming


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet(
    warm: subprocess.Popen[bytes], hub: Hub, machines: dict[str, FleetHost]
) -> AsyncIterator[Fleet]:
    assert await asyncio.to_thread(warm.wait, 120) == 0
    env = hub_env(hub.data)
    tokens = {}
    for name, host in machines.items():  # one at a time: the first makes the hub's CA
        code, out, err = await hostwarden("hosts", "add", name, "--url", host.url, env=env)
        assert code == 0, err
        tokens[name] = out.strip()
    enrolled = await asyncio.gather(
        *(
            hostwarden("agent", "enroll", "--hub", hub.console_url, "--token", tokens[name],
                       "--data", str(host.data))
            for name, host in machines.items()
        )
    )  # fmt: skip
    assert [(code, out.split(";")[0]) for code, out, _ in enrolled] == [
        (0, f"enrolled as {name}") for name in NAMES
    ], enrolled
    for host in machines.values():
        host.start()
    try:
        await asyncio.gather(*(host.ready() for host in machines.values()))
        await hub.round()  # first contact: the agents join both front ends' fleets
        yield Fleet(hub, machines, tokens)
    finally:
        for host in machines.values():
            if host.running:
                host.stop()


async def test_three_agents_enrolled_with_tokens_answer_the_hub(fleet: Fleet) -> None:
    code, out, err = await hostwarden("hosts", "list", "--json", env=hub_env(fleet.hub.data))
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert sorted(rows) == list(NAMES)
    for name, host in fleet.hosts.items():
        assert rows[name]["state"] == "enrolled" and rows[name]["url"] == host.url
        assert rows[name]["reachable"] == "yes" and rows[name]["last_seen"] is not None
    assert fleet.hub.bot.services.hosts().names() == ("hub", *NAMES)
    roster = fleet.hub.console_agents.roster
    assert roster is not None and [host.name for host in roster.agents()] == list(NAMES)
    [hosts] = await fleet.hub.chat.converse(ADMIN_ID, "/hosts")
    assert all(name in hosts["text"] for name in NAMES), hosts
    assert (await fleet.remote("db1").version()).read_only
    assert not (await fleet.remote("db2").version()).read_only


async def test_a_replayed_enrolment_token_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    enrolled = await fleet.hub.bot.core.store.hosts.get("db2")
    again = tmp_path / "again"
    code, _, err = await hostwarden(
        "agent", "enroll", "--hub", fleet.hub.console_url, "--token", fleet.tokens["db2"],
        "--data", str(again),
    )  # fmt: skip
    assert (code, err.strip()) == (2, "error: enrolment refused")
    assert not again.exists()
    assert await fleet.hub.bot.core.store.hosts.get("db2") == enrolled
    assert (await fleet.remote("db2").version()).version  # the enrolled db2 still answers


async def test_a_restart_from_the_bot_acts_on_db2_only(fleet: Fleet) -> None:
    before = fleet.started()
    question, done = await fleet.hub.restart_from_the_bot(f"{WEB}@db2")
    assert question == f"Restart container <b>{WEB}</b> on host <b>db2</b>?"
    assert done == f"✅ Restart: <b>{WEB}</b> on <b>db2</b> is now running."
    after = fleet.started()
    assert after["db2"] != before["db2"]
    assert {n: after[n] for n in ("db1", "db3")} == {n: before[n] for n in ("db1", "db3")}
    event = (await fleet.actions())[0]
    assert event.actor == f"tg:{ADMIN_ID}"
    assert event.detail == {
        "verb": "restart", "container": WEB, "channel": "telegram", "host": "db2",
        "outcome": "running",
    }  # fmt: skip


async def test_a_restart_from_the_console_after_a_step_up_acts_on_db2_only(fleet: Fleet) -> None:
    web, before = fleet.hub.console, fleet.started()
    await web.login_admin()
    fleet.hub.clock.advance(601)  # the login's code is stale now: acting asks for a fresh one
    path = f"/containers/{WEB}/restart?host=db2"
    step_up = await web.client.get(path)
    assert step_up.status_code == 303 and step_up.headers["location"].startswith("/login/code")
    coded = await web.post("/login/code", {"code": web.code(ADMIN), "next": path}, "/login/code")
    assert coded.headers["location"] == path
    question = await web.client.get(path)
    assert f"Restart container {WEB} on host db2?" in question.text
    action, fields = confirmation_form(question.text)
    done = await web.client.post(action, data=fields)
    assert done.status_code == 303, done.text
    assert "on%20db2%20is%20now%20running" in done.headers["location"]
    after = fleet.started()
    assert after["db2"] != before["db2"]
    assert {n: after[n] for n in ("db1", "db3")} == {n: before[n] for n in ("db1", "db3")}
    event = (await fleet.actions())[0]
    assert (event.actor, event.detail["host"], event.detail["channel"]) == (
        f"user:{ADMIN}", "db2", "web",
    )  # fmt: skip


async def test_a_read_only_agent_refuses_a_restart_the_hub_asks_for(fleet: Fleet) -> None:
    before = fleet.started()
    _, done = await fleet.hub.restart_from_the_bot(f"{WEB}@db1")
    assert "read-only" in done and "is now" not in done
    assert fleet.started() == before
    event = (await fleet.actions())[0]
    assert (event.detail["host"], event.detail["outcome"]) == ("db1", "failed")
    [refused] = [line for line in fleet.hosts["db1"].operations() if line["op"] == "restart"]
    assert (refused["target"], refused["outcome"]) == (WEB, "refused:read-only")


async def test_a_wrong_client_certificate_is_refused_by_an_agent(
    fleet: Fleet, tmp_path: Path
) -> None:
    db2 = fleet.hosts["db2"]
    ca = HubCA.load(ca_directory(fleet.hub.data))
    other = HubCA.load_or_create(tmp_path / "other", datetime.now(UTC))
    foreign = trust_kit.client_with(other.client_cert_file, other.client_key_file, ca.ca_file)
    thief = trust_kit.Hub(tmp_path, ca).second_client(tmp_path / "thief")
    same_ca = trust_kit.client_with(*thief, ca.ca_file)
    before = fleet.started()
    # Another CA's client is refused in the handshake (the agent's API never hears of it); this
    # CA's, not the pinned hub's, by the pin.
    refusals = ((foreign, Unavailable, "unreachable"), (same_ca, InvalidInput, "its hub only"))
    pinned = []
    for context, refusal, said in refusals:
        host = RemoteHost("db2", db2.url, context, agent_dns_name("db2"), sleep=no_wait)
        try:
            with pytest.raises(refusal, match=said):
                await host.version()
            with pytest.raises(refusal, match=said):
                await host.engine.restart(WEB)
        finally:
            await host.close()
        pinned.append(db2.said().count("refused a client that is not the pinned hub"))
    assert pinned == [0, 2]
    assert fleet.started() == before
    assert not (await fleet.remote("db2").version()).read_only  # the hub itself still gets in


async def test_a_container_dying_on_db3_alerts_the_admin_chat_naming_db3(fleet: Fleet) -> None:
    hub, db3 = fleet.hub, fleet.hosts["db3"]
    seq = await hub.last_seq()
    db3.run("dier", "exit 1")
    alerts: list[str] = []
    deadline = time.monotonic() + 20
    while not alerts and time.monotonic() < deadline:
        # The agent, another process, reads the engine's event; the hub polls it once more.
        await asyncio.sleep(0.05)
        await hub.round()
        alerts = [text for text in await hub.admin_chat(seq) if "dier" in text]
    [alert] = alerts
    assert alert.startswith("<b>Container dier exited</b>\nHost: db3\n"), alert
    assert "exit code 1" in alert
    await hub.round()  # no other host saw it, nor does db3 tell it twice
    assert [text for text in await hub.admin_chat(seq) if "dier" in text] == [alert]


async def test_an_agent_stopped_and_started_again_alerts_once_each_way(fleet: Fleet) -> None:
    hub, db3 = fleet.hub, fleet.hosts["db3"]
    hub.clock.advance(60)
    seq = await hub.last_seq()
    assert db3.stop() == 0
    await hub.round()
    await hub.round()  # still down: nothing more
    [down] = [text for text in await hub.admin_chat(seq) if "unreachable" in text]
    assert down.startswith("<b>Host unreachable</b>\nHost: db3\n"), down
    page = await hub.console.client.get("/host?host=db3")
    if page.status_code == 303:  # no session left from the console's test: log in
        await hub.console.login_admin()
        page = await hub.console.client.get("/host?host=db3")
    assert "This host does not answer" in page.text and "Last seen" in page.text
    db3.start()
    await db3.ready()
    await hub.round()
    await hub.round()  # still up: nothing more
    said = await hub.admin_chat(seq)
    assert [text for text in said if "unreachable" in text] == [down]
    [back] = [text for text in said if "reachable again" in text]
    assert back.startswith("<b>Host reachable again</b>\nHost: db3\n"), back
    assert (await fleet.remote("db3").version()).version


async def test_a_removed_host_is_refused_at_the_next_request(fleet: Fleet) -> None:
    hub, db1 = fleet.hub, fleet.hosts["db1"]
    remote = fleet.remote("db1")
    console_side = hub.console_agents.roster
    assert console_side is not None
    [console_remote] = [host for host in console_side.agents() if host.name == "db1"]
    assert (await remote.version()).read_only and (await console_remote.version()).read_only
    code, out, err = await hostwarden("hosts", "remove", "db1", "--yes", env=hub_env(hub.data))
    assert (code, out) == (0, "removed db1\n"), err
    for host in (remote, console_remote):  # the same hosts, connections and certificates
        with pytest.raises(Unavailable, match="does not trust"):
            await host.version()
    [status] = await hub.chat.converse(ADMIN_ID, "/status @db1")
    assert "does not trust" in status["text"], status
    assert db1.running  # the agent still serves: the hub refused it
    await hub.round()
    assert hub.bot.services.hosts().names() == ("hub", "db2", "db3")
    assert [host.name for host in console_side.agents()] == ["db2", "db3"]
    [removed] = await hub.bot.core.audit.query(AuditQuery(kind=Kind.HOST_REMOVED))
    assert removed.subject == "host:db1"
