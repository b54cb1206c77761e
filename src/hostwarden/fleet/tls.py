"""TLS between the hub and its agents: mutual, TLS 1.2 or newer, only the hub's CA trusted.

The agent's server (:func:`agent_server_context`) asks every client for a certificate and trusts
the hub's CA alone (never the system's); OpenSSL then also requires the client certificate to
allow ``clientAuth``, which only the hub's has. Per connection the agent also runs
:meth:`HubPin.allows`: the peer must be the very hub client certificate pinned at enrolment, so
another certificate from the same CA (an agent's, or one a thief made with a stolen CA key after
the hub re-keyed) is refused too.

The hub's client (:func:`hub_client_context`) shows its client certificate, trusts the hub's CA
alone and checks the agent's certificate for ``NAME.hostwarden.invalid``
(:func:`hostwarden.fleet.pki.agent_dns_name`), whatever address the agent is reached at: pass
that name as ``server_hostname``. The hub then asks its store whether that certificate is still
the one enrolled for the host (:meth:`hostwarden.fleet.enrolment.HubEnrolment.trusted`), so a
removed host is refused though its certificate has not expired.
"""

from __future__ import annotations

import hmac
import ssl
from pathlib import Path

from hostwarden.errors import InvalidInput
from hostwarden.fleet.files import read_file
from hostwarden.fleet.pki import der_fingerprint

_FINGERPRINT_HEX = frozenset("0123456789abcdef")


def _base(purpose: int) -> ssl.SSLContext:
    context = ssl.SSLContext(purpose)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def agent_server_context(cert_file: Path, key_file: Path, hub_ca_file: Path) -> ssl.SSLContext:
    """The agent's server context: its certificate and key; clients signed by the hub CA only."""
    read_file(key_file, private=True)  # refuses a key others may read
    context = _base(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cadata=read_file(hub_ca_file).decode("ascii"))
    return context


def hub_client_context(cert_file: Path, key_file: Path, ca_file: Path) -> ssl.SSLContext:
    """The hub's client context: its client certificate; agents signed by the hub CA only.

    Host names are checked: connect with ``server_hostname=agent_dns_name(name)``.
    """
    read_file(key_file, private=True)
    context = _base(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = True
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cadata=read_file(ca_file).decode("ascii"))
    return context


def peer_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """SHA-256 (hex) of the certificate the peer of a TLS connection showed, if any.

    With asyncio or aiohttp: ``transport.get_extra_info("ssl_object")``.
    """
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return der_fingerprint(der) if der else None


def check_fingerprint(value: str) -> str:
    """``value`` if it is a SHA-256 fingerprint in lowercase hex, else :class:`InvalidInput`."""
    if len(value) != 64 or not set(value) <= _FINGERPRINT_HEX:
        raise InvalidInput("a certificate fingerprint is 64 lowercase hex digits")
    return value


class HubPin:
    """The hub client certificate an agent accepts, pinned by fingerprint at enrolment."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = check_fingerprint(fingerprint)

    @classmethod
    def load(cls, path: Path) -> HubPin:
        """The pin stored at enrolment (``AgentFiles.hub_pin``: one line of hex)."""
        return cls(read_file(path).decode("ascii", "replace").strip())

    def matches(self, fingerprint: str | None) -> bool:
        """Whether ``fingerprint`` (hex) is the pinned one."""
        if fingerprint is None:
            return False
        return hmac.compare_digest(
            self.fingerprint.encode(), fingerprint.encode("ascii", "replace")
        )

    def allows(self, ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bool:
        """Whether the connection's peer showed the pinned hub client certificate.

        Run it on every connection (or request) before answering anything.
        """
        return self.matches(peer_fingerprint(ssl_object))
