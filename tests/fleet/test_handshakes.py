"""Real TLS handshakes on loopback between the hub's and the agents' contexts.

Each refusal is checked where it must happen: OpenSSL refuses the handshake (the server never
sees a connection) for a foreign CA or a certificate of the wrong kind; the pin refuses a second
client certificate of the same CA; the hub's store refuses a removed host.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from hostwarden.core.audit import AuditTrail
from hostwarden.core.clock import ManualClock
from hostwarden.fleet.enrolment import HubEnrolment
from hostwarden.fleet.files import write_private, write_public
from hostwarden.fleet.pki import fingerprint, key_pem, make_csr, new_key
from hostwarden.fleet.probe import probe, probe_all
from hostwarden.storage.fleet import HostRecord
from hostwarden.storage.memory import MemoryStore
from tests.fleet.trust_kit import Hub, agent_server, client_with, now, talk


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub.make(tmp_path)


async def test_the_hub_client_is_accepted_and_sees_the_agent_it_enrolled(hub: Hub) -> None:
    files = hub.agent("db1")
    async with agent_server(files) as served:
        said, seen = await talk(served.port, hub.client_context(), "db1")
    assert said == b"hub" and served.peers == [True]
    assert seen == fingerprint(x509.load_pem_x509_certificate(files.cert.read_bytes()))


async def test_a_client_certificate_from_another_ca_is_refused(hub: Hub, tmp_path: Path) -> None:
    files = hub.agent("db1")
    other = Hub.make(tmp_path / "other")
    # The other hub's genuine client certificate, trusting our CA to see the agent.
    context = client_with(other.ca.client_cert_file, other.ca.client_key_file, hub.ca.ca_file)
    async with agent_server(files) as served:
        said, _ = await talk(served.port, context, "db1")
    assert said is None and served.peers == []


async def test_an_agent_certificate_used_as_a_client_is_refused(hub: Hub) -> None:
    victim, thief = hub.agent("db1"), hub.agent("db2")
    # db2's key and certificate, signed by the very same CA, offered to db1 as a client.
    context = client_with(thief.cert, thief.key, thief.hub_ca)
    async with agent_server(victim) as served:
        said, _ = await talk(served.port, context, "db1")
    assert said is None and served.peers == []  # refused by the handshake: serverAuth only


async def test_a_second_client_certificate_of_the_same_ca_is_refused_by_the_pin(
    hub: Hub, tmp_path: Path
) -> None:
    files = hub.agent("db1")
    cert, key = hub.second_client(tmp_path / "thief")
    async with agent_server(files) as served:
        said, _ = await talk(served.port, client_with(cert, key, hub.ca.ca_file), "db1")
    assert said == b"stranger" and served.peers == [False]


async def test_the_hub_checks_the_agent_name_whatever_address_it_dials(hub: Hub) -> None:
    files = hub.agent("db1")
    async with agent_server(files) as served:
        said, _ = await talk(served.port, hub.client_context(), "db2")
    assert said is None and served.peers == []


async def test_the_hub_key_cannot_pose_as_an_agent(hub: Hub, tmp_path: Path) -> None:
    """A server showing the hub's client certificate (clientAuth only) is refused by the hub."""
    files = hub.agent("db1")
    # Swap db1's certificate and key for the hub client's own.
    files.cert.write_bytes(hub.ca.client_cert_file.read_bytes())
    files.key.write_bytes(hub.ca.client_key_file.read_bytes())
    async with agent_server(files) as served:
        said, _ = await talk(served.port, hub.client_context(), "db1")
    assert said is None


async def test_a_removed_host_is_refused_by_the_hub(hub: Hub, tmp_path: Path) -> None:
    clock = ManualClock(now())
    store = MemoryStore()
    enrolment = HubEnrolment(store, hub.ca, AuditTrail(store.audit, clock), clock)
    token = await enrolment.invite("db1", "https://127.0.0.1:9443", "cli:test")
    key = new_key()
    enrolled = await enrolment.enrol(token.reveal(), make_csr(key, "db1"), "ip:127.0.0.1")
    files = hub.agent("db1")
    write_private(files.key, key_pem(key))
    write_public(files.cert, enrolled.certificate.encode())
    async with agent_server(files) as served:
        said, seen = await talk(served.port, hub.client_context(), "db1")
        assert said == b"hub"
        assert await enrolment.trusted(seen, "db1")
        assert not await enrolment.trusted(seen, "db2")
        assert await enrolment.remove("db1", "cli:test")
        said, seen = await talk(served.port, hub.client_context(), "db1")
    # The CA still vouches for the certificate; the hub's record of it is gone.
    assert said == b"hub" and seen == enrolled.host.fingerprint
    assert not await enrolment.trusted(seen, "db1")


def record(name: str, url: str | None, fingerprint: str) -> HostRecord:
    return HostRecord(name, url, fingerprint, "1", now() + timedelta(days=1), now())


async def test_probe_tells_reachable_from_wrong_and_gone(hub: Hub) -> None:
    files = hub.agent("db1")
    enrolled = fingerprint(x509.load_pem_x509_certificate(files.cert.read_bytes()))
    context = hub.client_context()
    async with agent_server(files) as served:
        url = f"https://127.0.0.1:{served.port}"
        assert await probe(record("db1", url, enrolled), context) == "yes"
        assert await probe(record("db1", url, "0" * 64), context) == "no (another certificate)"
        assert await probe(record("db2", url, enrolled), context) == "no (certificate refused)"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    gone = record("db1", f"https://127.0.0.1:{port}", enrolled)
    assert await probe(gone, context) == "no (connection refused)"
    assert await probe(record("db1", None, enrolled), context) == "no address"
    with socket.socket() as silent:  # accepts TCP, never speaks TLS
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mute = record("db1", f"https://127.0.0.1:{silent.getsockname()[1]}", enrolled)
        assert await probe_all([mute], context, seconds=0.05) == {"db1": "no (timed out)"}
