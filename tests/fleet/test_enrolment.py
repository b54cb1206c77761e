"""The hub's enrolment service over the memory store and a manual clock (no sleeps)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import ManualClock
from hostwarden.errors import Conflict, InvalidInput, NotFound
from hostwarden.fleet.enrolment import EnrolmentRefused, HubEnrolment, check_agent_url
from hostwarden.fleet.join import check_answer
from hostwarden.fleet.pki import HubCA, fingerprint, make_csr, new_key
from hostwarden.fleet.tokens import EnrolmentToken
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.memory import MemoryStore

URL = "https://10.0.0.5:9443"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def hub(tmp_path: Path, store: MemoryStore, clock: ManualClock) -> HubEnrolment:
    ca = HubCA.load_or_create(tmp_path / "fleet", clock.now())
    return HubEnrolment(store, ca, AuditTrail(store.audit, clock), clock)


def csr(name: str = "db1") -> str:
    return make_csr(new_key(), name)


async def events(store: MemoryStore, kind: str) -> list[object]:
    return list(await store.audit.query(AuditQuery(kind=kind)))


async def test_a_token_enrols_once_and_the_answer_checks_out(
    hub: HubEnrolment, store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    token = await hub.invite("db1", URL, "cli:root")
    assert token.ca_hash == hub.ca.ca_fingerprint
    key = new_key()
    enrolled = await hub.enrol(token.reveal(), make_csr(key, "db1"), "ip:192.0.2.7")
    answer = {
        "certificate": enrolled.certificate,
        "ca": enrolled.ca,
        "hub_client_fingerprint": enrolled.hub_client_fingerprint,
        "hub_client_certificate": enrolled.hub_client_certificate,
    }
    assert check_answer(answer, token, key.public_key())[2] == hub.ca.client_fingerprint
    assert enrolled.host.url == URL and enrolled.host.name == "db1"
    cert = x509.load_pem_x509_certificate(enrolled.certificate.encode())
    assert await hub.trusted(fingerprint(cert), "db1")
    with pytest.raises(EnrolmentRefused):  # replayed
        await hub.enrol(token.reveal(), csr(), "ip:192.0.2.8")
    [event] = await events(store, Kind.HOST_ENROLLED)
    assert event.subject == "host:db1" and event.actor == "ip:192.0.2.7"  # type: ignore[attr-defined]
    # The token's secret is in no event and no log line.
    everything = await store.audit.query(AuditQuery(limit=100))
    assert token.secret not in repr(everything) and token.secret not in caplog.text
    assert token.secret not in repr(token) and token.secret not in str(token)


async def test_an_expired_token_never_enrols(hub: HubEnrolment, clock: ManualClock) -> None:
    token = await hub.invite("db1", None, "cli:root")
    clock.advance(15 * 60)
    with pytest.raises(EnrolmentRefused):
        await hub.enrol(token.reveal(), csr(), "ip:192.0.2.7")
    assert await hub.hosts() == []


async def test_a_token_just_inside_its_lifetime_works(
    hub: HubEnrolment, clock: ManualClock
) -> None:
    token = await hub.invite("db1", None, "cli:root", seconds=120)
    clock.advance(119)
    assert (await hub.enrol(token.reveal(), csr(), "ip:192.0.2.7")).host.name == "db1"


async def test_two_agents_racing_with_one_token_enrol_exactly_one(hub: HubEnrolment) -> None:
    token = await hub.invite("db1", None, "cli:root")
    tries = [hub.enrol(token.reveal(), csr(), f"ip:192.0.2.{n}") for n in range(8)]
    results = await asyncio.gather(*tries, return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, EnrolmentRefused) for r in results if isinstance(r, BaseException))
    [host] = await hub.hosts()
    winner = next(r for r in results if not isinstance(r, BaseException))
    assert host == winner.host  # type: ignore[union-attr]


async def test_tampered_tokens_are_refused_alike(
    hub: HubEnrolment, tmp_path: Path, clock: ManualClock
) -> None:
    token = await hub.invite("db1", None, "cli:root")
    other_ca = HubCA.load_or_create(tmp_path / "other", clock.now())
    forged = [
        EnrolmentToken("db1", "x" * 32, token.ca_hash).reveal(),  # wrong secret
        EnrolmentToken("db2", token.secret, token.ca_hash).reveal(),  # another name
        EnrolmentToken("db1", token.secret, other_ca.ca_fingerprint).reveal(),  # another hub
        token.reveal() + "x",
        "",
        "hw1",
        42,
        None,
        ["hw1"],
    ]
    for text in forged:
        with pytest.raises(EnrolmentRefused) as caught:
            await hub.enrol(text, csr(), "ip:192.0.2.7")
        assert str(caught.value) == "enrolment refused"
    assert (await hub.enrol(token.reveal(), csr(), "ip:192.0.2.7")).host.name == "db1"


async def test_a_bad_csr_leaves_the_token_usable(hub: HubEnrolment) -> None:
    token = await hub.invite("db1", None, "cli:root")
    for bad in ("nonsense", 7, None):
        with pytest.raises(InvalidInput):
            await hub.enrol(token.reveal(), bad, "ip:192.0.2.7")
    assert (await hub.enrol(token.reveal(), csr(), "ip:192.0.2.7")).host.name == "db1"


async def test_invite_checks_its_input_and_an_enrolled_name(hub: HubEnrolment) -> None:
    for url in ("http://10.0.0.5:9443", "https://u:p@h:1", "https://h:1/x", "https://h:99999", "x"):
        with pytest.raises(InvalidInput):
            await hub.invite("db1", url, "cli:root")
    for seconds in (0, 59, 86401):
        with pytest.raises(InvalidInput):
            await hub.invite("db1", None, "cli:root", seconds)
    token = await hub.invite("db1", URL + "/", "cli:root")
    await hub.enrol(token.reveal(), csr(), "ip:192.0.2.7")
    with pytest.raises(Conflict):
        await hub.invite("db1", URL, "cli:root")
    assert check_agent_url("https://[::1]:9443") == "https://[::1]:9443"


async def test_renewal_before_expiry_swaps_the_trusted_certificate(
    hub: HubEnrolment, clock: ManualClock, store: MemoryStore
) -> None:
    token = await hub.invite("db1", None, "cli:root")
    enrolled = await hub.enrol(token.reveal(), csr(), "ip:192.0.2.7")
    old = enrolled.host.fingerprint
    assert not hub.renewal_due(enrolled.host)
    clock.advance(21 * 86400)
    assert hub.renewal_due(enrolled.host)
    issued = await hub.sign_renewal("db1", csr())
    assert await hub.trusted(issued.info.fingerprint, "db1")
    assert not await hub.trusted(old, "db1")
    assert issued.info.not_after == clock.now() + timedelta(days=30)
    assert len(await events(store, Kind.HOST_RENEWED)) == 1
    clock.advance(31 * 86400)
    assert not await hub.trusted(issued.info.fingerprint, "db1")  # expired


async def test_renewal_of_a_removed_host_is_refused(hub: HubEnrolment, store: MemoryStore) -> None:
    with pytest.raises(NotFound):
        await hub.sign_renewal("db1", csr())
    token = await hub.invite("db1", None, "cli:root")
    await hub.enrol(token.reveal(), csr(), "ip:192.0.2.7")
    assert await hub.remove("db1", "cli:root")
    with pytest.raises(NotFound):
        await hub.sign_renewal("db1", csr())
    assert not await hub.remove("db1", "cli:root")
    assert len(await events(store, Kind.HOST_REMOVED)) == 1


async def test_seen_records_contact_for_enrolled_hosts_only(
    hub: HubEnrolment, clock: ManualClock
) -> None:
    token = await hub.invite("db1", URL, "cli:root")
    await hub.enrol(token.reveal(), csr(), "ip:192.0.2.7")
    assert await hub.seen("db1", clock.now(), "0.2.0")
    assert await hub.seen("db1", clock.advance(60))
    [host] = await hub.hosts()
    assert host.last_seen == clock.now() and host.agent_version == "0.2.0"
    assert not await hub.seen("db2", clock.now())
