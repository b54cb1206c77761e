"""``POST /fleet/enroll`` on the console: the good path, hostile bodies, and the guard's count.

Through httpx's ASGI transport from 203.0.113.5, over the memory store and a manual clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from hostwarden.config import StorageSettings
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.fleet.enrolment import HubEnrolment
from hostwarden.fleet.join import check_answer
from hostwarden.fleet.pki import HubCA, ca_directory, make_csr, new_key
from hostwarden.fleet.tokens import EnrolmentToken
from hostwarden.storage.base import AuditQuery
from tests.web.conftest import make_console, web_settings

IP = "203.0.113.5"
PATH = "/fleet/enroll"


@dataclass
class Setup:
    client: httpx.AsyncClient
    core: AccessCore
    hub: HubEnrolment
    token: EnrolmentToken

    async def post(self, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.client.post(PATH, json=body, **kwargs)

    async def kinds(self, kind: str) -> list[Any]:
        return await self.core.store.audit.query(AuditQuery(kind=kind, limit=100))


@pytest.fixture
async def setup(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Setup]:
    settings = web_settings(storage=StorageSettings(data_dir=tmp_path))
    console, core = await make_console(clock, settings)
    ca = HubCA.load_or_create(ca_directory(tmp_path), clock.now())
    hub = HubEnrolment(core.store, ca, core.audit, clock)
    token = await hub.invite("db1", "https://10.0.0.5:9443", "cli:root")
    # A bare client: no session, no CSRF cookie, as an agent posts.
    client = httpx.AsyncClient(transport=console.client._transport, base_url="https://testserver")
    yield Setup(client, core, hub, token)
    await client.aclose()
    await console.client.aclose()
    await core.close()


async def test_an_agent_enrols_without_any_cookie_and_a_replay_is_refused(setup: Setup) -> None:
    key = new_key()
    answer = await setup.post({"token": setup.token.reveal(), "csr": make_csr(key, "db1")})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert "content-security-policy" in answer.headers
    body = answer.json()
    assert set(body) == {"certificate", "ca", "hub_client_fingerprint", "hub_client_certificate"}
    check_answer(body, setup.token, key.public_key())
    [enrolled] = await setup.kinds(Kind.HOST_ENROLLED)
    assert enrolled.actor == f"ip:{IP}" and enrolled.subject == "host:db1"
    again = await setup.post({"token": setup.token.reveal(), "csr": make_csr(new_key(), "db1")})
    assert again.status_code == 403 and again.json() == {"error": "enrolment refused"}
    [counted] = await setup.kinds(Kind.ACCESS_UNKNOWN)
    assert counted.detail["action"] == "fleet.enroll" and counted.actor == f"ip:{IP}"
    assert setup.token.secret not in again.text


def greedy_csr() -> str:
    """A CSR asking for CA:TRUE and extra names: both are ignored."""
    key = new_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil")]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("hub.example.com"), x509.DNSName("db2")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


async def test_a_greedy_csr_gets_only_what_the_hub_grants(setup: Setup) -> None:
    answer = await setup.post({"token": setup.token.reveal(), "csr": greedy_csr()})
    assert answer.status_code == 200
    cert = x509.load_pem_x509_certificate(answer.json()["certificate"].encode())
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["db1.hostwarden.invalid"]


def raw(body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": body, "headers": {"content-type": content_type}}


HOSTILE: dict[str, tuple[dict[str, Any], int]] = {
    "over the endpoint's limit": (raw(b'{"token": "' + b"a" * 20_000 + b'"}'), 413),
    "over the console's limit": (raw(b"[" * 70_000), 413),
    "not JSON": (raw(b"token=hw1&csr=x"), 400),
    "not UTF-8": (raw(b'{"token": "\xff\xfe"}'), 400),
    "deeply nested": (raw(b"[" * 8_000 + b"]" * 8_000), 400),
    "a list": (raw(b"[1, 2]"), 400),
    "a string": (raw(b'"hw1"'), 400),
    "a form": (raw(b"token=x&csr=y", "application/x-www-form-urlencoded"), 415),
    "multipart": (raw(b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x"), 415),
    "no content type": ({"content": b"{}"}, 415),
    "two content types": (
        {"content": b"{}", "headers": [("content-type", "application/json")] * 2},
        415,
    ),
    "csr a number": (raw(b'{"token": "hw1", "csr": 7}'), 400),
    "csr missing": (raw(b'{"token": "hw1"}'), 400),
    "csr junk": (raw(b'{"token": "hw1", "csr": "-----BEGIN CERTIFICATE REQUEST-----"}'), 400),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_bodies_are_refused_and_the_token_survives(setup: Setup, case: str) -> None:
    request, status = HOSTILE[case]
    answer = await setup.client.post(PATH, **request)
    assert answer.status_code == status, answer.text
    assert setup.token.secret not in answer.text
    good = await setup.post({"token": setup.token.reveal(), "csr": make_csr(new_key(), "db1")})
    assert good.status_code == 200


@pytest.mark.parametrize(
    "token", [["hw1"], {"t": 1}, 7, None, "hw1.db1.\x00", "x" * 5000, "hw1.db1.{}.{}"]
)
async def test_tokens_of_any_shape_get_the_one_refusal(setup: Setup, token: Any) -> None:
    answer = await setup.post({"token": token, "csr": make_csr(new_key(), "db1")})
    assert answer.status_code == 403 and answer.json() == {"error": "enrolment refused"}


async def test_guessing_is_counted_and_blocked_like_any_stranger(
    setup: Setup, clock: ManualClock
) -> None:
    max_attempts = setup.core.settings.access.max_attempts
    for n in range(max_attempts):
        forged = EnrolmentToken("db1", f"{n:032d}", setup.token.ca_hash).reveal()
        answer = await setup.post({"token": forged, "csr": make_csr(new_key(), "db1")})
        assert answer.status_code == 403
    # Counted under a key of its own: enrolment is blocked, the console's logins are not.
    assert await setup.core.lockout.blocked((f"enrol:{IP}",)) is not None
    assert await setup.core.lockout.blocked((f"ip:{IP}",)) is None
    # Blocked: even the right token is refused, unread, and not used up.
    good = {"token": setup.token.reveal(), "csr": make_csr(new_key(), "db1")}
    refused = await setup.post(good)
    assert refused.status_code == 403 and refused.json() == {"error": "enrolment refused"}
    assert await setup.kinds(Kind.ACCESS_BLOCKED)
    assert await setup.kinds(Kind.HOST_ENROLLED) == []
    await setup.core.lockout.unblock(f"enrol:{IP}", "cli:root")
    assert (await setup.post(good)).status_code == 200


async def test_an_address_blocked_for_logins_cannot_enrol_either(setup: Setup) -> None:
    await setup.core.lockout.block(f"ip:{IP}", "cli:root", "test", 3600)
    good = {"token": setup.token.reveal(), "csr": make_csr(new_key(), "db1")}
    refused = await setup.post(good)
    assert refused.status_code == 403 and refused.json() == {"error": "enrolment refused"}
    assert await setup.kinds(Kind.HOST_ENROLLED) == []
    assert await setup.kinds(Kind.ACCESS_UNKNOWN) == []  # the block holds, nothing more counted


async def test_enrolment_guessing_does_not_lock_the_console_login(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = web_settings(storage=StorageSettings(data_dir=tmp_path))
    console, core = await make_console(clock, settings)
    ca = HubCA.load_or_create(ca_directory(tmp_path), clock.now())
    token = await HubEnrolment(core.store, ca, core.audit, clock).invite("db1", None, "cli:root")
    for n in range(core.settings.access.max_attempts + 2):
        forged = EnrolmentToken("db1", f"{n:032d}", token.ca_hash).reveal()
        body = {"token": forged, "csr": make_csr(new_key(), "db1")}
        assert (await console.client.post(PATH, json=body)).status_code == 403
    assert await core.lockout.blocked((f"enrol:{IP}",)) is not None
    await console.login_admin()  # the same address still logs in
    assert (await console.client.get("/")).status_code == 200
    await console.client.aclose()
    await core.close()


#: What a page of another site makes the admin's browser send: ``fetch(url, {method: "POST",
#: mode: "no-cors"})`` has no body and no Content-Type (no preflight).
NO_CORS = {"origin": "https://evil.example", "sec-fetch-site": "cross-site",
           "sec-fetch-mode": "no-cors"}  # fmt: skip
CROSS_SITE: dict[str, dict[str, Any]] = {
    "no-cors, no body": {"headers": NO_CORS},
    "no-cors, text/plain": {"headers": {**NO_CORS, "content-type": "text/plain"}, "content": b"x"},
    "no body, no headers at all": {},
    "JSON typed, cross-site": {"headers": {**NO_CORS, "content-type": "application/json"}},
    "JSON typed, same-site": {
        "headers": {"sec-fetch-site": "same-site", "content-type": "application/json"}
    },
    "JSON typed, another origin": {
        "headers": {"origin": "https://evil.example", "content-type": "application/json"}
    },
    "JSON typed, origin null": {"headers": {"origin": "null", "content-type": "application/json"}},
    "JSON typed, our host on another port": {
        "headers": {"origin": "https://testserver:8443", "content-type": "application/json"}
    },
}


@pytest.mark.parametrize("case", sorted(CROSS_SITE))
async def test_a_page_of_another_site_can_neither_enrol_nor_get_its_visitor_blocked(
    setup: Setup, case: str
) -> None:
    request = CROSS_SITE[case]
    for _ in range(setup.core.settings.access.max_attempts + 2):
        answer = await setup.client.post(PATH, **request)
        assert answer.status_code in (403, 415), answer.text
    assert await setup.core.lockout.blocked((f"ip:{IP}", f"enrol:{IP}")) is None
    assert await setup.kinds(Kind.ACCESS_UNKNOWN) == []
    # With the right token too: refused, and the token survives.
    good = {"token": setup.token.reveal(), "csr": make_csr(new_key(), "db1")}
    headers = {**request.get("headers", {}), "content-type": "application/json"}
    if request.get("headers"):
        assert (await setup.client.post(PATH, json=good, headers=headers)).status_code == 403
    assert (await setup.post(good)).status_code == 200


async def test_our_own_origin_and_same_origin_fetch_metadata_pass(setup: Setup) -> None:
    good = {"token": setup.token.reveal(), "csr": make_csr(new_key(), "db1")}
    headers = {"origin": "https://testserver", "sec-fetch-site": "same-origin"}
    assert (await setup.post(good, headers=headers)).status_code == 200


@pytest.mark.parametrize("case", sorted(c for c, (_, status) in HOSTILE.items() if status != 403))
async def test_unreadable_bodies_are_answered_but_never_counted(setup: Setup, case: str) -> None:
    request, status = HOSTILE[case]
    for _ in range(setup.core.settings.access.max_attempts + 2):
        assert (await setup.client.post(PATH, **request)).status_code == status
    assert await setup.core.lockout.blocked((f"ip:{IP}", f"enrol:{IP}")) is None
    assert await setup.kinds(Kind.ACCESS_UNKNOWN) == []


async def test_only_post_is_served(setup: Setup) -> None:
    assert (await setup.client.get(PATH)).status_code == 405


async def test_without_a_ca_every_token_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    settings = web_settings(storage=StorageSettings(data_dir=tmp_path / "empty"))
    console, core = await make_console(clock, settings)
    body = json.dumps(
        {"token": "hw1.db1." + "a" * 32 + "." + "b" * 64, "csr": make_csr(new_key(), "db1")}
    )
    answer = await console.client.post(PATH, **raw(body.encode()))
    assert answer.status_code == 403
    assert not (tmp_path / "empty").exists()  # a stranger's post creates nothing
    await console.client.aclose()
    await core.close()
