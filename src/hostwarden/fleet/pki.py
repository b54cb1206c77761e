"""The hub's own certificate authority, made with ``cryptography`` (EC P-256 keys).

Under the hub's data directory, in ``fleet/`` (mode 0700; keys 0600): the CA (``ca.crt``,
``ca.key``) and the hub's client certificate (``hub-client.crt``, ``hub-client.key``). The CA
signs two kinds of certificates and no others:

- the hub's client certificate: extended key usage ``clientAuth`` only;
- an agent's server certificate: ``serverAuth`` only, for ``NAME.hostwarden.invalid`` only, for
  :data:`CERT_DAYS` days by default (at most :data:`MAX_CERT_DAYS`).

So an agent's certificate (and its key, if stolen) cannot act as the hub toward another agent:
TLS servers refuse a client certificate without ``clientAuth``. Of an agent's CSR only the public
key is used (after the CSR's signature proves the agent holds it): its subject and extensions,
such as extra names or a CA flag, are ignored.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hostwarden.errors import ConfigError, InvalidInput, NotFound
from hostwarden.fleet.files import private_dir, read_file, write_private, write_public
from hostwarden.fleet.target import check_host_name
from hostwarden.storage.fleet import CertInfo

CA_DAYS = 3650
CERT_DAYS = 30
MIN_CERT_DAYS = 1
MAX_CERT_DAYS = 90
DNS_SUFFIX = "hostwarden.invalid"
#: The largest CSR read, in characters of PEM (an EC P-256 CSR is about 500).
MAX_CSR = 8 * 1024
#: Certificates start this much before they are signed, for clocks a little behind.
BACKDATE = timedelta(minutes=5)

CA_CERT, CA_KEY = "ca.crt", "ca.key"
CLIENT_CERT, CLIENT_KEY = "hub-client.crt", "hub-client.key"


def ca_directory(data_dir: Path) -> Path:
    """Where the hub keeps its CA and client certificate: ``fleet/`` in its data directory."""
    return data_dir / "fleet"


def agent_dns_name(name: str) -> str:
    """The one DNS name in an agent's certificate; the hub verifies the agent for this name."""
    return f"{check_host_name(name)}.{DNS_SUFFIX}"


def fingerprint(cert: x509.Certificate) -> str:
    """The SHA-256 of ``cert``'s DER, in lowercase hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def der_fingerprint(der: bytes) -> str:
    """The SHA-256 of a DER certificate (as TLS hands it over), in lowercase hex."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return digest.finalize().hex()


def check_cert_days(days: int) -> int:
    """``days`` if it is an allowed agent certificate lifetime, else :class:`InvalidInput`."""
    if not MIN_CERT_DAYS <= days <= MAX_CERT_DAYS:
        raise InvalidInput(f"certificate lifetime must be {MIN_CERT_DAYS}-{MAX_CERT_DAYS} days")
    return days


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh EC P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM (written only with mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_csr(key: ec.EllipticCurvePrivateKey, name: str) -> str:
    """A CSR (PEM) for ``key`` naming host ``name``; the hub uses its public key alone."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, check_host_name(name))])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def read_csr(pem: str) -> x509.CertificateSigningRequest:
    """A CSR whose signature holds, for an EC P-256/P-384 or Ed25519 key; else one-line error."""
    if not isinstance(pem, str) or len(pem) > MAX_CSR or not pem.isascii():
        raise InvalidInput("that is not a certificate signing request")
    try:
        csr = x509.load_pem_x509_csr(pem.encode("ascii"))
        key = csr.public_key()
        valid = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidInput("that is not a certificate signing request") from None
    curve_ok = isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in (
        "secp256r1",
        "secp384r1",
    )
    if not (curve_ok or isinstance(key, ed25519.Ed25519PublicKey)):
        raise InvalidInput("the request's key must be EC P-256, P-384 or Ed25519")
    if not valid:
        raise InvalidInput("the request's signature does not match its key")
    return csr


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate the hub signed: its PEM, and what the hub stores of it."""

    pem: str
    info: CertInfo


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hostwarden"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _leaf(
    ca_cert: x509.Certificate,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    usage: x509.ObjectIdentifier,
    start: datetime,
    end: datetime,
) -> x509.CertificateBuilder:
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(min(end, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
    )


def _issued(cert: x509.Certificate) -> IssuedCertificate:
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    info = CertInfo(fingerprint(cert), format(cert.serial_number, "x"), cert.not_valid_after_utc)
    return IssuedCertificate(pem, info)


class HubCA:
    """The hub's CA and client certificate, loaded from (or made in) ``directory``."""

    def __init__(
        self,
        directory: Path,
        ca_cert: x509.Certificate,
        ca_key: ec.EllipticCurvePrivateKey,
        client_cert: x509.Certificate,
    ) -> None:
        self.directory = directory
        self.ca_cert = ca_cert
        self._ca_key = ca_key
        self.client_cert = client_cert

    @property
    def ca_file(self) -> Path:
        return self.directory / CA_CERT

    @property
    def client_cert_file(self) -> Path:
        return self.directory / CLIENT_CERT

    @property
    def client_key_file(self) -> Path:
        return self.directory / CLIENT_KEY

    @property
    def ca_pem(self) -> str:
        """The CA certificate, PEM: what agents pin."""
        return self.ca_cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def ca_fingerprint(self) -> str:
        """SHA-256 of the CA certificate (carried by every enrolment token)."""
        return fingerprint(self.ca_cert)

    @property
    def client_fingerprint(self) -> str:
        """SHA-256 of the hub's client certificate: the one agents accept."""
        return fingerprint(self.client_cert)

    @property
    def client_pem(self) -> str:
        """The hub's client certificate, PEM: sent at enrolment so the agent can check its pin."""
        return self.client_cert.public_bytes(serialization.Encoding.PEM).decode()

    @classmethod
    def load(cls, directory: Path) -> HubCA:
        """The CA in ``directory``; :class:`NotFound` if there is none, one-line errors."""
        try:
            ca_cert = x509.load_pem_x509_certificate(read_file(directory / CA_CERT))
            key = serialization.load_pem_private_key(
                read_file(directory / CA_KEY, private=True), password=None
            )
            client = x509.load_pem_x509_certificate(read_file(directory / CLIENT_CERT))
            read_file(directory / CLIENT_KEY, private=True)
        except NotFound:
            raise NotFound(
                f"the hub has no CA in {directory} yet: `hostwarden hosts add`"
            ) from None
        except ValueError:
            raise ConfigError(f"the hub's CA files in {directory} are damaged") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"the hub's CA key in {directory} is not an EC key")
        return cls(directory, ca_cert, key, client)

    @classmethod
    def load_or_create(cls, directory: Path, now: datetime) -> HubCA:
        """The CA in ``directory``, made first if missing (safe when two processes race)."""
        with contextlib.suppress(NotFound):
            return cls.load(directory)
        parent = private_dir(directory.parent)
        staging = Path(tempfile.mkdtemp(prefix=".fleet-", dir=parent))
        try:
            _create(staging, now)
            os.rename(staging, directory)  # atomic; fails if another process got there first
        except OSError:
            if not (directory / CA_CERT).is_file():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return cls.load(directory)

    def sign_agent(
        self, csr_pem: str, name: str, now: datetime, days: int = CERT_DAYS
    ) -> IssuedCertificate:
        """A server certificate for host ``name`` on the CSR's key (see the module's rules)."""
        csr = read_csr(csr_pem)
        key = csr.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
        end = now + timedelta(days=check_cert_days(days))
        builder = _leaf(
            self.ca_cert, _name(check_host_name(name)), key, ExtendedKeyUsageOID.SERVER_AUTH,
            now - BACKDATE, end,
        ).add_extension(
            x509.SubjectAlternativeName([x509.DNSName(agent_dns_name(name))]), critical=False
        )  # fmt: skip
        return _issued(builder.sign(self._ca_key, hashes.SHA256()))


def _create(directory: Path, now: datetime) -> None:
    """Write a new CA and hub client certificate into ``directory`` (mode 0700)."""
    os.chmod(directory, 0o700)
    ca_key, client_key = new_key(), new_key()
    subject = _name(f"hostwarden hub CA {os.urandom(4).hex()}")
    public = ca_key.public_key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    client = _leaf(
        ca_cert, _name("hostwarden hub"), client_key.public_key(),
        ExtendedKeyUsageOID.CLIENT_AUTH, now - BACKDATE, now + timedelta(days=CA_DAYS),
    ).sign(ca_key, hashes.SHA256())  # fmt: skip
    write_private(directory / CA_KEY, key_pem(ca_key))
    write_private(directory / CLIENT_KEY, key_pem(client_key))
    write_public(directory / CA_CERT, ca_cert.public_bytes(serialization.Encoding.PEM))
    write_public(directory / CLIENT_CERT, client.public_bytes(serialization.Encoding.PEM))
