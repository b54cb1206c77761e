"""The hub's CA: files and modes, what it signs, and what it ignores in a CSR."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hostwarden.errors import ConfigError, InvalidInput, NotFound
from hostwarden.fleet.pki import (
    CERT_DAYS,
    MAX_CERT_DAYS,
    HubCA,
    agent_dns_name,
    ca_directory,
    fingerprint,
    make_csr,
    new_key,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def ca(tmp_path: Path) -> HubCA:
    return HubCA.load_or_create(ca_directory(tmp_path / "data"), T0)


def hostile_csr(key: ec.EllipticCurvePrivateKey) -> str:
    """A CSR asking for a CA flag, extra names, client use and another subject."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub.example.com")]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("hub.example.com"), x509.DNSName("*.hostwarden.invalid")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_files_are_private_and_a_second_load_finds_the_same_ca(tmp_path: Path, ca: HubCA) -> None:
    folder = ca_directory(tmp_path / "data")
    assert mode(folder) == 0o700
    assert mode(folder / "ca.key") == 0o600 and mode(folder / "hub-client.key") == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [
        "ca.crt", "ca.key", "hub-client.crt", "hub-client.key",
    ]  # fmt: skip
    again = HubCA.load_or_create(folder, T0 + timedelta(days=1))
    assert again.ca_fingerprint == ca.ca_fingerprint
    assert again.client_fingerprint == ca.client_fingerprint


def test_processes_racing_to_make_the_ca_end_with_one(tmp_path: Path) -> None:
    folder = ca_directory(tmp_path / "race")
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: HubCA.load_or_create(folder, T0), range(8)))
    assert len({ca.ca_fingerprint for ca in made}) == 1
    assert len({ca.client_fingerprint for ca in made}) == 1
    assert sorted(p.name for p in folder.parent.iterdir()) == ["fleet"]  # no leftovers


def test_a_key_others_can_read_is_refused(tmp_path: Path, ca: HubCA) -> None:
    key = ca_directory(tmp_path / "data") / "ca.key"
    key.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        HubCA.load(key.parent)


def test_no_ca_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        HubCA.load(tmp_path / "nothing")


def test_the_ca_and_the_hub_client_certificate(ca: HubCA) -> None:
    constraints = ca.ca_cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    client = ca.client_cert
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not client.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    client.verify_directly_issued_by(ca.ca_cert)
    assert fingerprint(client) == ca.client_fingerprint != ca.ca_fingerprint
    assert len(ca.ca_fingerprint) == 64


def test_an_agent_gets_server_auth_for_its_derived_name_only(ca: HubCA) -> None:
    key = new_key()
    issued = ca.sign_agent(make_csr(key, "db1"), "db1", T0)
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    cert.verify_directly_issued_by(ca.ca_cert)
    assert cert.public_key() == key.public_key()
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["db1.hostwarden.invalid"]
    assert agent_dns_name("db1") == "db1.hostwarden.invalid"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.not_valid_after_utc == T0 + timedelta(days=CERT_DAYS)
    assert issued.info.fingerprint == fingerprint(cert)
    assert issued.info.serial == format(cert.serial_number, "x")
    assert issued.info.not_after == cert.not_valid_after_utc


def test_what_a_csr_asks_for_is_ignored_but_its_key(ca: HubCA) -> None:
    key = new_key()
    cert = x509.load_pem_x509_certificate(ca.sign_agent(hostile_csr(key), "db1", T0).pem.encode())
    assert cert.public_key() == key.public_key()
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["db1.hostwarden.invalid"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "db1"


@pytest.mark.parametrize("days", [0, -1, MAX_CERT_DAYS + 1, 3650])
def test_lifetimes_are_bounded(ca: HubCA, days: int) -> None:
    with pytest.raises(InvalidInput, match="days"):
        ca.sign_agent(make_csr(new_key(), "db1"), "db1", T0, days)


def test_a_lifetime_inside_the_bounds_is_used(ca: HubCA) -> None:
    issued = ca.sign_agent(make_csr(new_key(), "db1"), "db1", T0, 7)
    assert issued.info.not_after == T0 + timedelta(days=7)


def rsa_csr() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "db1")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def forged_csr() -> str:
    """A CSR whose signature was made by another key than the one it carries."""
    good = x509.load_pem_x509_csr(make_csr(new_key(), "db1").encode())
    other = x509.load_pem_x509_csr(make_csr(new_key(), "db1").encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    start = der.find(good.signature)
    der[start : start + len(good.signature)] = other.signature[: len(good.signature)].ljust(
        len(good.signature), b"\x00"
    )
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    "csr",
    ["", "garbage", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
     "é" * 100, "A" * 9000],
)  # fmt: skip
def test_unusable_csrs_are_one_line_errors(ca: HubCA, csr: str) -> None:
    with pytest.raises(InvalidInput, match="not a certificate signing request"):
        ca.sign_agent(csr, "db1", T0)


def test_an_rsa_key_and_a_forged_signature_are_refused(ca: HubCA) -> None:
    with pytest.raises(InvalidInput, match="must be EC"):
        ca.sign_agent(rsa_csr(), "db1", T0)
    with pytest.raises(InvalidInput, match="signature does not match"):
        ca.sign_agent(forged_csr(), "db1", T0)


def test_bad_host_names_are_refused(ca: HubCA) -> None:
    for name in ("", "DB1", "-db", "a" * 33, "db1.example.com", "db 1"):
        with pytest.raises(InvalidInput):
            ca.sign_agent(make_csr(new_key(), "db1"), name, T0)
