"""The agent's side of enrolment: ``hostwarden agent enroll --hub URL --token TOKEN``.

1. The token is read; it names the host and carries the SHA-256 of the hub's CA.
2. A new EC P-256 key is made here (it never leaves this host) and a CSR for it.
3. ``{token, csr}`` is posted to the hub's console, ``POST /fleet/enroll``, over HTTPS (plain
   HTTP only to a loopback address), with the answer capped at :data:`MAX_ANSWER` bytes. No
   proxy from the environment (``HTTP_PROXY``, ``ALL_PROXY``, ...) is used: the token goes to
   the hub's address and nowhere else.
4. Before anything is trusted or stored: the CA received must hash to the token's CA hash, the
   certificate must be signed by that CA, for this key, for this host's name only, for
   ``serverAuth``; the hub client certificate sent along must be signed by that CA, for
   ``clientAuth`` alone, and hash to the hub client fingerprint, which the agent then pins (so
   the pin, too, is bound to the token's CA hash).
5. Then, under the agent's data directory (mode 0700): the key (0600), the certificate, the CA
   and the pinned hub client fingerprint (:class:`hostwarden.fleet.identity.AgentFiles`).
"""

from __future__ import annotations

import hmac
import json
import ssl
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from hostwarden.errors import Conflict, InvalidInput, Unavailable
from hostwarden.fleet.enrolment import EnrolmentRefused
from hostwarden.fleet.files import private_dir, write_private, write_public
from hostwarden.fleet.identity import AgentFiles
from hostwarden.fleet.pki import agent_dns_name, fingerprint, key_pem, make_csr, new_key
from hostwarden.fleet.tls import check_fingerprint
from hostwarden.fleet.tokens import EnrolmentToken
from hostwarden.listening import is_loopback

ENROL_PATH = "/fleet/enroll"
MAX_ANSWER = 64 * 1024
TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Joined:
    """What enrolment stored: this host's name, its certificate's expiry, the pinned hub."""

    name: str
    not_after: datetime
    ca_fingerprint: str
    hub_client_fingerprint: str


def check_hub_url(url: str) -> str:
    """The console's base URL: ``https://...``, or ``http://`` to a loopback address only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise InvalidInput("the hub URL is https://HOST[:PORT][/PATH]") from None
    if parts.scheme not in ("https", "http") or not host or parts.query or parts.fragment:
        raise InvalidInput("the hub URL is https://HOST[:PORT][/PATH]")
    if parts.username or parts.password:
        raise InvalidInput("the hub URL must not hold credentials")
    if parts.scheme == "http" and not is_loopback(host):
        raise InvalidInput("the token would travel in clear: use https:// for the hub")
    return url.rstrip("/")


def _certificate(pem: object, what: str) -> x509.Certificate:
    if not isinstance(pem, str) or len(pem) > MAX_ANSWER or not pem.isascii():
        raise InvalidInput(f"the hub's answer holds no usable {what}")
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError:
        raise InvalidInput(f"the hub's answer holds no usable {what}") from None


def check_answer(answer: Any, token: EnrolmentToken, public_key: Any) -> tuple[str, str, str]:
    """``(certificate, ca, pin)`` from the hub's answer once each holds; else one-line errors."""
    if not isinstance(answer, dict):
        raise InvalidInput("the hub's answer is not an enrolment")
    ca = _certificate(answer.get("ca"), "CA certificate")
    if not hmac.compare_digest(fingerprint(ca), token.ca_hash):
        raise InvalidInput("the hub's CA does not match the token: nothing was stored")
    cert = _certificate(answer.get("certificate"), "certificate")
    try:
        is_ca = ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        usage = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        raise InvalidInput("the certificate was not issued by the hub's CA") from None
    if not is_ca or cert.public_key() != public_key:
        raise InvalidInput("the certificate is not for this agent's key")
    dns = names.get_values_for_type(x509.DNSName)
    if dns != [agent_dns_name(token.name)] or usage != [ExtendedKeyUsageOID.SERVER_AUTH]:
        raise InvalidInput("the certificate is not for this host's name alone")
    pin = answer.get("hub_client_fingerprint")
    if not isinstance(pin, str):
        raise InvalidInput("the hub's answer holds no client fingerprint")
    pin = check_fingerprint(pin)
    client = _certificate(answer.get("hub_client_certificate"), "hub client certificate")
    check_hub_client(client, ca, pin)
    return answer["certificate"], answer["ca"], pin


def check_hub_client(client: x509.Certificate, ca: x509.Certificate, pin: str) -> None:
    """That ``client`` is a hub client certificate of ``ca`` (signed by it, no CA, for
    ``clientAuth`` alone) whose SHA-256 is ``pin``; else :class:`InvalidInput`."""
    refused = "the hub client certificate is not one of the hub's CA: nothing was stored"
    try:
        client.verify_directly_issued_by(ca)
        is_ca = client.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        usage = list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        raise InvalidInput(refused) from None
    if is_ca or usage != [ExtendedKeyUsageOID.CLIENT_AUTH]:
        raise InvalidInput(refused)
    if not hmac.compare_digest(fingerprint(client), pin):
        raise InvalidInput("the hub client fingerprint is not its certificate's: nothing stored")


async def _post(
    url: str, body: dict[str, str], verify: ssl.SSLContext | bool, transport: Any
) -> Any:
    try:
        async with (
            httpx.AsyncClient(
                verify=verify, transport=transport, timeout=TIMEOUT, trust_env=False
            ) as client,
            client.stream("POST", url + ENROL_PATH, json=body) as response,
        ):
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_ANSWER:
                    raise InvalidInput("the hub's answer is too large")
            status = response.status_code
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot reach the hub: {type(exc).__name__}") from None
    if status in (403, 429):
        raise EnrolmentRefused
    if status != 200:
        raise Unavailable(f"the hub answered {status}")
    try:
        return json.loads(bytes(data))
    except ValueError:
        raise InvalidInput("the hub's answer is not JSON") from None


async def enroll(
    hub: str,
    token_text: str,
    directory: Path,
    name: str | None = None,
    force: bool = False,
    verify: ssl.SSLContext | bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Joined:
    """Enrol this agent with the hub at ``hub`` (see the module's steps); one-line errors.

    ``verify`` checks the console's own HTTPS certificate (default: the usual CA bundle; an
    ``SSLContext`` for a console with a private CA). ``force`` replaces an earlier enrolment.
    """
    hub = check_hub_url(hub)
    token = EnrolmentToken.parse(token_text)
    if name is not None and name != token.name:
        raise InvalidInput(f"this token enrols host {token.name}, not {name}")
    files = AgentFiles(directory)
    if files.cert.exists() and not force:
        raise Conflict(f"this agent is already enrolled ({files.cert}): add --force to replace it")
    key = new_key()
    body = {"token": token.reveal(), "csr": make_csr(key, token.name)}
    answer = await _post(hub, body, verify, transport)
    certificate, ca, pin = check_answer(answer, token, key.public_key())
    private_dir(directory)
    write_public(files.hub_ca, ca.encode("ascii"))
    write_public(files.hub_pin, pin.encode("ascii") + b"\n")
    write_private(files.key, key_pem(key))
    write_public(files.cert, certificate.encode("ascii"))
    cert = x509.load_pem_x509_certificate(certificate.encode("ascii"))
    return Joined(token.name, cert.not_valid_after_utc, token.ca_hash, pin)
