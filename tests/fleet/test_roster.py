"""The hub's roster: enrolled hosts become remote hosts, removed ones go, certificates renew.

A real agent on loopback over mutual TLS, enrolled through the hub's own enrolment service
(memory store). TLS checks certificates against the real clock, so the manual clock starts now.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.alerts import AlertOutbox
from hostwarden.core.audit import AuditTrail
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AlertSettings
from hostwarden.errors import HostwardenError, NotFound, Unavailable
from hostwarden.fleet.agent import build_agent
from hostwarden.fleet.enrolment import HubEnrolment
from hostwarden.fleet.files import write_private, write_public
from hostwarden.fleet.hubside import HubAgents
from hostwarden.fleet.identity import AgentFiles
from hostwarden.fleet.overview import FleetOverview
from hostwarden.fleet.pki import HubCA, ca_directory, fingerprint, key_pem, make_csr, new_key
from hostwarden.fleet.poller import FeedPoller
from hostwarden.fleet.remote import RemoteHost
from hostwarden.fleet.roster import AgentRoster
from hostwarden.fleet.target import Fleet, HostReport
from hostwarden.fleet.tls import HubPin
from hostwarden.storage.memory import MemoryStore
from tests.fleet.agent_kit import loopback_socket, server_context

NOWHERE = ContainerSettings(docker_url="unix:///nonexistent/engine.sock", timeout_seconds=2)


class OneHost:
    """The hub's own host, as a fleet needs one: never read in these tests."""

    name = "hub"

    @property
    def engine(self) -> object:
        raise AssertionError("the hub's own host is not used here")

    async def report(self, top: int = 8) -> HostReport:
        raise AssertionError("the hub's own host is not used here")

    async def image_updates(self, images: object) -> list[object]:
        return []

    async def close(self) -> None:
        return None


@contextlib.asynccontextmanager
async def enrolled_agent(
    hub: HubEnrolment, name: str, directory: Path
) -> AsyncIterator[AgentFiles]:
    """An agent for ``name``, enrolled with a token from ``hub``, serving on loopback."""
    sock = loopback_socket()
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    token = await hub.invite(name, url, "cli:test")
    key = new_key()
    answer = await hub.enrol(token.reveal(), make_csr(key, name), "ip:127.0.0.1")
    files = AgentFiles(directory / name)
    files.directory.mkdir(mode=0o700)
    write_private(files.key, key_pem(key))
    write_public(files.cert, answer.certificate.encode())
    write_public(files.hub_ca, answer.ca.encode())
    write_public(files.hub_pin, answer.hub_client_fingerprint.encode())
    context = server_context(files)
    agent = build_agent(
        files, context, containers=NOWHERE, watch=False, pin=HubPin(answer.hub_client_fingerprint)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.serve(sock, context, stop))
    try:
        yield files
    finally:
        stop.set()
        await task
        sock.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def make_roster(
    tmp_path: Path, store: MemoryStore, clock: ManualClock, cert_days: int = 30
) -> tuple[HubEnrolment, AgentRoster, Fleet]:
    ca = HubCA.load_or_create(tmp_path / "fleet", clock.now())
    hub = HubEnrolment(store, ca, AuditTrail(store.audit, clock), clock, cert_days)
    fleet = Fleet([OneHost()])  # type: ignore[list-item]
    outbox = AlertOutbox(store.outbox, AuditTrail(store.audit, clock), clock, AlertSettings())
    roster = AgentRoster(fleet, hub, FeedPoller(outbox, clock), clock, timeout=5)
    return hub, roster, fleet


async def test_an_enrolled_host_joins_the_fleet_and_its_contact_is_recorded(
    tmp_path: Path, store: MemoryStore, clock: ManualClock
) -> None:
    hub, roster, fleet = make_roster(tmp_path, store, clock)
    async with enrolled_agent(hub, "db1", tmp_path):
        await roster.round()  # first contact: joins, answers, its version is noted
        assert fleet.names() == ("hub", "db1")
        version = await roster.agents()[0].version()
        assert version.read_only is False
        record = await store.hosts.get("db1")
        assert record is not None and record.last_seen == clock.now()
        assert record.agent_version == version.version
    await roster.close()


async def test_a_removed_host_is_refused_at_once_and_leaves_the_fleet_next_round(
    tmp_path: Path, store: MemoryStore, clock: ManualClock
) -> None:
    hub, roster, fleet = make_roster(tmp_path, store, clock)
    async with enrolled_agent(hub, "db1", tmp_path):
        await roster.sync()
        remote = fleet.get("db1")
        await roster.agents()[0].version()
        assert await hub.remove("db1", "cli:test")
        # Same connection pool, same agent, same certificate: the store says no more.
        with pytest.raises(HostwardenError):
            await roster.agents()[0].version()
        await roster.sync()
        with pytest.raises(NotFound):
            fleet.get("db1")
        assert roster.agents() == [] and remote.name == "db1"
    await roster.close()


async def test_a_certificate_in_its_last_third_is_renewed_and_the_new_one_is_served(
    tmp_path: Path, store: MemoryStore, clock: ManualClock
) -> None:
    # One-day certificates are due for renewal at once (the margin is at least a day).
    hub, roster, _ = make_roster(tmp_path, store, clock, cert_days=1)
    async with enrolled_agent(hub, "db1", tmp_path) as files:
        before = await store.hosts.get("db1")
        assert before is not None
        await roster.round()
        after = await store.hosts.get("db1")
        assert after is not None and after.fingerprint != before.fingerprint
        served = x509.load_pem_x509_certificate(files.cert.read_bytes())
        assert fingerprint(served) == after.fingerprint  # the agent keeps the new one
        # The hub trusts only the new certificate, and the agent serves it.
        await roster.agents()[0].version()
        assert not await hub.trusted(before.fingerprint, "db1")
    await roster.close()


async def test_a_running_hub_takes_agents_on_once_its_ca_exists_and_notes_their_contact(
    tmp_path: Path, store: MemoryStore, clock: ManualClock
) -> None:
    core = AccessCore(store, clock=clock)
    fleet = Fleet([OneHost()])  # type: ignore[list-item]
    overview = FleetOverview(clock)
    agents = HubAgents(lambda: fleet, core, tmp_path, poll=True, overview=overview)
    await agents.round()  # no CA yet (no `hosts add` ever ran): nothing to do, no error
    assert agents.roster is None and fleet.names() == ("hub",)
    ca = HubCA.load_or_create(ca_directory(tmp_path), clock.now())
    hub = HubEnrolment(store, ca, core.audit, clock)
    async with enrolled_agent(hub, "db2", tmp_path):
        await agents.round()
        assert fleet.names() == ("hub", "db2")
        assert overview.last_seen("db2") == clock.now()
        # A console (poll=False) learns the contact the bot's poller stored.
        console_view = FleetOverview(clock)
        other = Fleet([OneHost()])  # type: ignore[list-item]
        console = HubAgents(lambda: other, core, tmp_path, poll=False, overview=console_view)
        await console.round()
        assert console_view.last_seen("db2") == clock.now()
        assert console.roster is not None
        await console.roster.close()
    assert agents.roster is not None
    await agents.roster.close()


async def test_a_renewal_whose_answer_is_lost_is_adopted_when_the_agent_shows_it(
    tmp_path: Path, store: MemoryStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, roster, _ = make_roster(tmp_path, store, clock, cert_days=1)  # due at once
    install = RemoteHost.install_certificate

    async def installed_but_answer_lost(self: RemoteHost, pem: str) -> datetime:
        await install(self, pem)  # the agent switched to the new certificate and key
        raise Unavailable(f"host {self.name} is unreachable (connection reset)")

    async with enrolled_agent(hub, "db1", tmp_path) as files:
        before = await store.hosts.get("db1")
        assert before is not None
        monkeypatch.setattr(RemoteHost, "install_certificate", installed_but_answer_lost)
        await roster.round()
        monkeypatch.setattr(RemoteHost, "install_certificate", install)
        served = fingerprint(x509.load_pem_x509_certificate(files.cert.read_bytes()))
        assert served != before.fingerprint  # the agent holds the new one, the hub lost the reply
        await roster.agents()[0].version()  # the hub recognises it and adopts it
        after = await store.hosts.get("db1")
        assert after is not None and after.fingerprint == served
        assert not await hub.trusted(before.fingerprint, "db1")
    await roster.close()
