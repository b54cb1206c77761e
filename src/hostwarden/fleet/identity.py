"""The agent's key and certificate on disk, and their renewal without a restart.

Files under the agent's data directory (:class:`AgentFiles`): its private key, the certificate
the hub signed for it, and the hub's CA certificate it pins. Renewal is two calls from the hub:
``POST /v1/renew`` makes a new key (kept aside, mode 0600) and returns a CSR for the same names;
``PUT /v1/certificate`` installs the hub-signed certificate if it was issued by the pinned CA for
that new key, then loads it into the running server's TLS context: connections made from then on
get the new certificate, open ones keep the old (no restart).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from hostwarden.core.clock import Clock, SystemClock
from hostwarden.errors import ConfigError, InvalidInput
from hostwarden.fleet.files import write_private, write_public
from hostwarden.fleet.pki import key_pem, make_csr, new_key

MAX_PEM = 64 * 1024
#: Where ``hostwarden agent serve`` and ``agent enroll`` keep the agent's files by default.
DEFAULT_DATA = Path("agent")


@dataclass(frozen=True, slots=True)
class AgentFiles:
    """Where an agent keeps its identity and its operation log."""

    directory: Path

    @property
    def key(self) -> Path:
        return self.directory / "agent.key"

    @property
    def cert(self) -> Path:
        return self.directory / "agent.crt"

    @property
    def hub_ca(self) -> Path:
        return self.directory / "hub-ca.crt"

    @property
    def pending_key(self) -> Path:
        return self.directory / "agent.key.new"

    @property
    def hub_pin(self) -> Path:
        """The pinned hub client certificate's SHA-256 (hex), one line."""
        return self.directory / "hub-client.sha256"

    @property
    def operations(self) -> Path:
        return self.directory / "operations.log"

    def check_enrolled(self) -> None:
        """:class:`ConfigError` with one line when the agent holds no certificate yet."""
        wanted = (self.key, self.cert, self.hub_ca, self.hub_pin)
        missing = [p.name for p in wanted if not p.is_file()]
        if missing:
            raise ConfigError(
                f"this agent is not enrolled ({', '.join(missing)} missing in {self.directory}): "
                "run `hostwarden agent enroll --hub URL --token TOKEN` first"
            )


class AgentIdentity:
    """Renews the agent's certificate; ``context`` is the running server's, reloaded in place."""

    def __init__(
        self, files: AgentFiles, context: ssl.SSLContext | None, clock: Clock | None = None
    ) -> None:
        self.files = files
        self._context = context
        self._clock = clock or SystemClock()

    def current(self) -> x509.Certificate:
        """The certificate in use."""
        return x509.load_pem_x509_certificate(self.files.cert.read_bytes())

    def new_request(self) -> str:
        """A new key (kept aside until :meth:`install`) and a CSR (PEM) for this agent's name."""
        names = self.current().subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names:
            raise InvalidInput("the current certificate names no host")
        key = new_key()
        csr = make_csr(key, str(names[0].value))
        write_private(self.files.pending_key, key_pem(key))
        return csr

    def install(self, certificate_pem: str) -> datetime:
        """Take the hub-signed certificate for the pending key; its expiry. One-line errors."""
        if len(certificate_pem) > MAX_PEM:
            raise InvalidInput("the certificate is too large")
        if not self.files.pending_key.is_file():
            raise InvalidInput("no renewal is pending: ask for a CSR first")
        try:
            cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        except ValueError:
            raise InvalidInput("that is not a PEM certificate") from None
        pending = serialization.load_pem_private_key(
            self.files.pending_key.read_bytes(), password=None
        )
        ca = x509.load_pem_x509_certificate(self.files.hub_ca.read_bytes())
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            raise InvalidInput("the certificate was not issued by the hub's CA") from None
        if cert.public_key() != pending.public_key():
            raise InvalidInput("the certificate is not for the pending key")
        now = self._clock.now()
        if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
            raise InvalidInput("the certificate is not valid now")
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        self.files.pending_key.replace(self.files.key)
        write_public(self.files.cert, cert_pem)
        if self._context is not None:
            self._context.load_cert_chain(self.files.cert, self.files.key)
        return cert.not_valid_after_utc.astimezone(UTC)
