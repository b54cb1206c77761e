"""Helpers for the trust tests: a hub CA in a temporary folder, agents' files, a loopback TLS
server that says whether its peer is the pinned hub, and a client that reports what it heard.

Certificates are made at the real time: OpenSSL checks them against the real clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hostwarden.fleet import pki
from hostwarden.fleet.files import write_private, write_public
from hostwarden.fleet.identity import AgentFiles
from hostwarden.fleet.pki import agent_dns_name, key_pem, new_key
from hostwarden.fleet.tls import HubPin, peer_fingerprint
from tests.fleet.agent_kit import Pki, server_context


def now() -> datetime:
    return datetime.now(UTC)


class Hub(Pki):
    """A hub's CA under ``directory`` (agent_kit's), plus what a thief of it would make."""

    def agent(self, name: str) -> AgentFiles:
        """Files of an agent enrolled as ``name`` (the layout ``agent enroll`` leaves)."""
        return self.enrol(name)

    def client_context(self) -> ssl.SSLContext:
        return self.hub_context()

    def second_client(self, folder: Path) -> tuple[Path, Path]:
        """Another clientAuth certificate from this same CA (as a thief with its key would make)."""
        key = new_key()
        start = now() - timedelta(minutes=1)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the hub")])
        builder = pki._leaf(  # the CA's own recipe, a second time
            self.ca.ca_cert, subject, key.public_key(),
            ExtendedKeyUsageOID.CLIENT_AUTH, start, start + timedelta(days=1),
        )  # fmt: skip
        cert = builder.sign(self.ca._ca_key, hashes.SHA256())
        folder.mkdir(mode=0o700, exist_ok=True)
        write_private(folder / "thief.key", key_pem(key))
        write_public(folder / "thief.crt", cert.public_bytes(serialization.Encoding.PEM))
        return folder / "thief.crt", folder / "thief.key"


def client_with(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A client context with any certificate, trusting ``ca``, checking host names."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class Served:
    """What the server saw: one entry per connection that completed its handshake."""

    port: int
    peers: list[bool] = field(default_factory=list)


@contextlib.asynccontextmanager
async def agent_server(files: AgentFiles) -> AsyncIterator[Served]:
    """The agent's TLS server on loopback: answers ``hub`` to the pinned hub, ``stranger`` else."""
    pin = HubPin.load(files.hub_pin)
    served = Served(0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        allowed = pin.allows(writer.get_extra_info("ssl_object"))
        served.peers.append(allowed)
        writer.write(b"hub" if allowed else b"stranger")
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context(files))
    served.port = server.sockets[0].getsockname()[1]
    try:
        yield served
    finally:
        server.close()
        await server.wait_closed()


async def talk(port: int, context: ssl.SSLContext, name: str) -> tuple[bytes | None, str | None]:
    """Connect as a client to ``name``'s server: (what it said, or None; the peer's fingerprint).

    A refused handshake, on either side, reads as ``None``.
    """
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname=agent_dns_name(name)
        )
    except (ssl.SSLError, ConnectionError):
        return None, None
    seen = peer_fingerprint(writer.get_extra_info("ssl_object"))
    try:
        said = await reader.read()
    except (ssl.SSLError, ConnectionError):
        said = b""
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await writer.wait_closed()
    return said or None, seen
