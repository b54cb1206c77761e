"""``agent enroll``'s checks: nothing is stored unless the hub's answer holds, all of it.

The hub is a real :class:`HubEnrolment` behind httpx's mock transport, whose answers a test may
tamper with on the way back.
"""

from __future__ import annotations

import asyncio
import json
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from hostwarden.core.audit import AuditTrail
from hostwarden.core.clock import ManualClock
from hostwarden.errors import Conflict, InvalidInput, Unavailable
from hostwarden.fleet.enrolment import EnrolmentRefused, HubEnrolment
from hostwarden.fleet.identity import AgentFiles
from hostwarden.fleet.join import MAX_ANSWER, check_hub_url, enroll
from hostwarden.fleet.pki import HubCA, fingerprint, make_csr, new_key
from hostwarden.fleet.tls import HubPin
from hostwarden.fleet.tokens import EnrolmentToken
from hostwarden.storage.memory import MemoryStore
from tests.fleet.trust_kit import now

Tamper = Callable[[dict[str, Any]], Any]


class FakeHub:
    """A real enrolment service answering ``POST /fleet/enroll``; ``tamper`` edits its answers."""

    def __init__(self, directory: Path) -> None:
        self.clock = ManualClock(now())
        self.store = MemoryStore()
        self.ca = HubCA.load_or_create(directory, self.clock.now())
        audit = AuditTrail(self.store.audit, self.clock)
        self.service = HubEnrolment(self.store, self.ca, audit, self.clock)
        self.tamper: Tamper = lambda answer: answer
        self.requests: list[str] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        body = json.loads(request.content)
        try:
            done = await self.service.enrol(body["token"], body["csr"], "ip:192.0.2.9")
        except EnrolmentRefused:
            return httpx.Response(403, json={"error": "enrolment refused"})
        answer = {
            "certificate": done.certificate,
            "ca": done.ca,
            "hub_client_fingerprint": done.hub_client_fingerprint,
            "hub_client_certificate": done.hub_client_certificate,
        }
        tampered = self.tamper(answer)
        if isinstance(tampered, bytes):
            return httpx.Response(200, content=tampered)
        return httpx.Response(200, json=tampered)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


@pytest.fixture
def hub(tmp_path: Path) -> FakeHub:
    return FakeHub(tmp_path / "hub")


async def token(hub: FakeHub, name: str = "db1") -> str:
    return (await hub.service.invite(name, None, "cli:root")).reveal()


async def test_a_good_answer_is_stored_with_private_modes(hub: FakeHub, tmp_path: Path) -> None:
    folder = tmp_path / "agent"
    joined = await enroll("https://hub.test/", await token(hub), folder, transport=hub.transport())
    assert hub.requests == ["https://hub.test/fleet/enroll"]
    assert joined.name == "db1" and joined.hub_client_fingerprint == hub.ca.client_fingerprint
    files = AgentFiles(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert files.hub_ca.read_text() == hub.ca.ca_pem
    assert HubPin.load(files.hub_pin).fingerprint == hub.ca.client_fingerprint
    # Enrolled already: refused before anything is sent, unless forced.
    with pytest.raises(Conflict, match="--force"):
        await enroll("https://hub.test", await token(hub, "db2"), folder, transport=hub.transport())
    assert len(hub.requests) == 1


def other_ca_answer(tmp_path: Path) -> Tamper:
    """The answer of an impostor hub: its own CA signs a certificate for the same key."""
    impostor = FakeHub(tmp_path / "impostor")

    def swap(answer: dict[str, Any]) -> dict[str, Any]:
        return {**answer, "ca": impostor.ca.ca_pem}

    return swap


def foreign_certificate(hub: FakeHub) -> Tamper:
    def swap(answer: dict[str, Any]) -> dict[str, Any]:
        other = hub.ca.sign_agent(make_csr(new_key(), "db1"), "db1", hub.clock.now())
        return {**answer, "certificate": other.pem}

    return swap


def pin_of(pem: str) -> str:
    return fingerprint(x509.load_pem_x509_certificate(pem.encode()))


def impostor_client(tmp_path: Path) -> Tamper:
    """A pin (and certificate) of another CA's client certificate, with the hub's own CA."""
    impostor = FakeHub(tmp_path / "impostor")

    def swap(answer: dict[str, Any]) -> dict[str, Any]:
        pem = impostor.ca.client_pem
        return {**answer, "hub_client_fingerprint": pin_of(pem), "hub_client_certificate": pem}

    return swap


def agent_as_client(hub: FakeHub) -> Tamper:
    """A pin of a certificate the hub's CA signed, but for an agent (``serverAuth``)."""

    def swap(answer: dict[str, Any]) -> dict[str, Any]:
        pem = hub.ca.sign_agent(make_csr(new_key(), "db9"), "db9", hub.clock.now()).pem
        return {**answer, "hub_client_fingerprint": pin_of(pem), "hub_client_certificate": pem}

    return swap


def key_pin(answer: dict[str, Any]) -> dict[str, Any]:
    """A pin of something else (what a man in the middle would pin: its own certificate)."""
    return {**answer, "hub_client_fingerprint": "ab" * 32}


@pytest.mark.parametrize(
    "case",
    ["other CA", "foreign certificate", "bad pin", "not a dict", "no certificate", "not JSON",
     "too large", "CA as certificate", "pin of another certificate", "pin of another CA's client",
     "pin of an agent certificate", "no client certificate", "CA as client certificate"],
)  # fmt: skip
async def test_a_doubtful_answer_stores_nothing(hub: FakeHub, tmp_path: Path, case: str) -> None:
    tampers: dict[str, Tamper] = {
        "other CA": other_ca_answer(tmp_path),
        "foreign certificate": foreign_certificate(hub),
        "bad pin": lambda a: {**a, "hub_client_fingerprint": "sha256:nothex"},
        "pin of another certificate": key_pin,
        "pin of another CA's client": impostor_client(tmp_path),
        "pin of an agent certificate": agent_as_client(hub),
        "no client certificate": lambda a: {
            k: v for k, v in a.items() if k != "hub_client_certificate"
        },
        "CA as client certificate": lambda a: {
            **a,
            "hub_client_fingerprint": pin_of(a["ca"]),
            "hub_client_certificate": a["ca"],
        },
        "not a dict": lambda a: [a],
        "no certificate": lambda a: {**a, "certificate": 7},
        "not JSON": lambda a: b"<html>hello</html>",
        "too large": lambda a: b"[" + b" " * MAX_ANSWER + b"]",
        "CA as certificate": lambda a: {**a, "certificate": a["ca"]},
    }
    hub.tamper = tampers[case]
    folder = tmp_path / "agent"
    with pytest.raises(InvalidInput):
        await enroll("https://hub.test", await token(hub), folder, transport=hub.transport())
    assert not folder.exists()


async def test_refusals_and_failures_are_one_line_each(hub: FakeHub, tmp_path: Path) -> None:
    folder = tmp_path / "agent"
    good = await token(hub)
    await enroll("https://hub.test", good, folder, transport=hub.transport())
    with pytest.raises(EnrolmentRefused):  # replayed
        await enroll("https://hub.test", good, tmp_path / "b", transport=hub.transport())

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(Unavailable, match="cannot reach the hub"):
        await enroll("https://hub.test", good, tmp_path / "c", transport=httpx.MockTransport(down))
    broken = httpx.MockTransport(lambda request: httpx.Response(502, text="bad gateway"))
    with pytest.raises(Unavailable, match="502"):
        await enroll("https://hub.test", good, tmp_path / "d", transport=broken)
    assert not any((tmp_path / d).exists() for d in "bcd")


def test_the_hub_url_must_keep_the_token_secret() -> None:
    assert check_hub_url("https://hub.example.com/console/") == "https://hub.example.com/console"
    assert check_hub_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert check_hub_url("http://[::1]:8080") == "http://[::1]:8080"
    for url in ("http://hub.example.com", "ftp://h", "https://u:p@h", "https://h?x=1", "h", ""):
        with pytest.raises(InvalidInput):
            check_hub_url(url)


async def _recorder(seen: list[bytes], answer: bytes) -> tuple[asyncio.Server, int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *([0-9]+)", head)
        seen.append(head + await reader.readexactly(int(length.group(1)) if length else 0))
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_the_token_goes_to_the_hub_and_never_to_a_proxy_of_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxied: list[bytes] = []
    reached: list[bytes] = []
    rest = b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    proxy, proxy_port = await _recorder(proxied, b"HTTP/1.1 403 Forbidden\r\n" + rest)
    hub, hub_port = await _recorder(reached, b"HTTP/1.1 503 Service Unavailable\r\n" + rest)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy_port}")
    secret = "A" * 32
    text = EnrolmentToken("db1", secret, "0" * 64).reveal()
    try:
        with pytest.raises(Unavailable, match="503"):
            await enroll(f"http://127.0.0.1:{hub_port}", text, tmp_path / "agent")
    finally:
        proxy.close()
        hub.close()
    assert proxied == []
    assert secret.encode() in b"".join(reached)


async def test_a_token_is_parsed_before_anything(tmp_path: Path) -> None:
    never = httpx.MockTransport(lambda request: pytest.fail("sent"))
    with pytest.raises(InvalidInput, match="not an enrolment token"):
        await enroll("https://h", "hw1.db1.short.abc", tmp_path / "a", transport=never)
    text = EnrolmentToken("db1", "s" * 32, "c" * 64).reveal()
    with pytest.raises(InvalidInput, match="not db2"):
        await enroll("https://h", text, tmp_path / "a", name="db2", transport=never)
    assert not (tmp_path / "a").exists()
