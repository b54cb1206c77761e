"""The hub's client for an agent over real mutual TLS on loopback (no container engine needed)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.alerts import Alert
from hostwarden.errors import InvalidInput, NotFound, Unavailable
from hostwarden.fleet.agent import Agent, build_agent
from hostwarden.fleet.pki import fingerprint
from hostwarden.fleet.remote import RemoteHost
from hostwarden.fleet.target import ManagedHost
from tests.fleet.agent_kit import Pki, free_port, hostname, no_wait, running, server_context

NOWHERE = ContainerSettings(docker_url="unix:///nonexistent/engine.sock", timeout_seconds=2)


def make_agent(pki: Pki, name: str, read_only: bool = False) -> tuple[Agent, ssl.SSLContext]:
    files = pki.enrol(name)
    context = server_context(files)
    agent = build_agent(
        files, context, containers=NOWHERE, read_only=read_only, watch=False, pin=pki.pin()
    )
    return agent, context


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.make(tmp_path)


async def test_version_report_and_events_over_mutual_tls(pki: Pki) -> None:
    agent, context = make_agent(pki, "db1", read_only=True)
    async with running(agent, context) as url:
        host = RemoteHost("db1", url, pki.hub_context(), hostname("db1"), sleep=no_wait)
        managed: ManagedHost = host
        try:
            version = await host.version()
            assert version.read_only is True and version.version
            report = await managed.report(top=3)
            assert 0 <= report.status.cpu.percent <= 100
            assert report.status.memory.total > 0
            assert len(report.by_cpu) <= 3
            await agent.ring.raise_alert(Alert("container", "web exited", datetime.now(UTC)))
            page = await host.events(0, None)
            assert [e.title for e in page.events] == ["web exited"]
            assert page.boot == agent.ring.boot and page.latest == 1
        finally:
            await managed.close()


async def test_engine_errors_come_back_as_hostwarden_errors(pki: Pki) -> None:
    agent, context = make_agent(pki, "db1")
    async with running(agent, context) as url:
        host = RemoteHost("db1", url, pki.hub_context(), hostname("db1"), sleep=no_wait)
        try:
            with pytest.raises(Unavailable, match="host db1"):
                await host.engine.containers()  # the agent's engine is not there
            with pytest.raises(InvalidInput):
                await host.engine.restart("../etc")  # refused before any request
        finally:
            await host.close()


async def test_an_agent_certificate_for_another_name_is_refused(pki: Pki) -> None:
    agent, context = make_agent(pki, "db1")
    async with running(agent, context) as url:
        host = RemoteHost("db2", url, pki.hub_context(), hostname("db2"), sleep=no_wait)
        try:
            with pytest.raises(Unavailable, match="TLS refused"):
                await host.version()
        finally:
            await host.close()


async def test_a_client_other_than_the_pinned_hub_is_refused(pki: Pki, tmp_path: Path) -> None:
    agent, context = make_agent(pki, "db1")
    other = Pki.make(tmp_path / "other")  # another hub: another CA
    async with running(agent, context) as url:
        stranger = RemoteHost("db1", url, other.hub_context(), hostname("db1"), sleep=no_wait)
        try:
            with pytest.raises(Unavailable):
                await stranger.version()
        finally:
            await stranger.close()
    # Same CA, but not the pinned hub certificate: the agent's middleware answers 403.
    pinned_elsewhere = build_agent(
        pki.enrol("db3"), context, containers=NOWHERE, watch=False, pin=other.pin()
    )
    async with running(pinned_elsewhere, context) as url:
        hub = RemoteHost("db1", url, pki.hub_context(), hostname("db1"), sleep=no_wait)
        try:
            with pytest.raises(InvalidInput, match="answers its hub only"):
                await hub.version()
        finally:
            await hub.close()


async def test_an_unreachable_agent_is_unavailable_after_three_tries() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    nowhere = f"https://127.0.0.1:{free_port()}"
    pki_less = RemoteHost(
        "db1", nowhere, ssl.create_default_context(), hostname("db1"), sleep=record
    )
    try:
        with pytest.raises(Unavailable, match="host db1 is unreachable"):
            await pki_less.version()
        assert len(waits) == 2  # three attempts for a read
        with pytest.raises(Unavailable):
            await pki_less.engine.restart("web")
        assert len(waits) == 2  # an action is never retried
    finally:
        await pki_less.close()


async def test_a_host_the_hub_no_longer_trusts_is_refused(pki: Pki) -> None:
    agent, context = make_agent(pki, "db1")
    seen: list[str | None] = []

    async def removed(found: str | None) -> bool:
        seen.append(found)
        return False

    async with running(agent, context) as url:
        host = RemoteHost("db1", url, pki.hub_context(), hostname("db1"), trust=removed)
        try:
            with pytest.raises(Unavailable, match="does not trust"):
                await host.version()
        finally:
            await host.close()
    assert seen == [fingerprint(agent_certificate(pki, "db1"))]


def agent_certificate(pki: Pki, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(
        (pki.directory / f"agent-{name}" / "agent.crt").read_bytes()
    )


async def test_renewal_swaps_the_certificate_without_a_restart(pki: Pki) -> None:
    agent, context = make_agent(pki, "db1")
    shown: list[str | None] = []

    async def trust(found: str | None) -> bool:
        shown.append(found)
        return True

    async with running(agent, context) as url:
        host = RemoteHost("db1", url, pki.hub_context(), hostname("db1"), trust=trust)
        try:
            await host.version()
            csr = await host.renewal_request()
            issued = pki.ca.sign_agent(csr, "db1", datetime.now(UTC))
            not_after = await host.install_certificate(issued.pem)
            assert not_after == issued.info.not_after
            await host.client.close()  # a new connection gets the new certificate
            await host.version()
        finally:
            await host.close()
        assert shown[0] != issued.info.fingerprint
        assert shown[-1] == issued.info.fingerprint
        ops = [(line["op"], line["peer"]) for line in agent.log.lines()]
        hub = f"sha256:{pki.ca.client_fingerprint}"
        assert ops == [("renew", hub), ("install", hub)]


async def test_a_certificate_from_another_ca_is_not_installed(pki: Pki, tmp_path: Path) -> None:
    agent, context = make_agent(pki, "db1")
    other = Pki.make(tmp_path / "other")
    async with running(agent, context) as url:
        host = RemoteHost("db1", url, pki.hub_context(), hostname("db1"))
        try:
            csr = await host.renewal_request()
            forged = other.ca.sign_agent(csr, "db1", datetime.now(UTC))
            with pytest.raises(InvalidInput, match="not issued by the hub's CA"):
                await host.install_certificate(forged.pem)
            with pytest.raises(NotFound):
                await host.client.get("/v1/nothing-here", type(await host.version()))
        finally:
            await host.close()
    assert agent.log.lines()[-1]["outcome"] == "failed:invalid_input"
