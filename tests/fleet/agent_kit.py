"""Certificates and loopback servers for the agent tests: a hub CA, enrolled agents, TLS servers.

The hub's CA and client certificate come from :class:`hostwarden.fleet.pki.HubCA`; an agent's
files are laid out as ``hostwarden agent enroll`` leaves them (:class:`AgentFiles`). Servers
listen on 127.0.0.1 on a free port and stop when their block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from aiohttp import web

from hostwarden.fleet.agent import Agent
from hostwarden.fleet.files import write_private, write_public
from hostwarden.fleet.identity import AgentFiles
from hostwarden.fleet.pki import HubCA, agent_dns_name, key_pem, make_csr, new_key
from hostwarden.fleet.tls import HubPin, agent_server_context, hub_client_context

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Pki:
    """A hub's CA in ``directory``, issuing agents' files and the hub's client context."""

    directory: Path
    ca: HubCA

    @classmethod
    def make(cls, directory: Path) -> Self:
        # Real time: TLS checks certificates against the real clock.
        return cls(directory, HubCA.load_or_create(directory / "hub", datetime.now(UTC)))

    def enrol(self, name: str) -> AgentFiles:
        """An agent's files, as enrolment leaves them, for host ``name``."""
        files = AgentFiles(self.directory / f"agent-{name}")
        files.directory.mkdir(mode=0o700)
        key = new_key()
        issued = self.ca.sign_agent(make_csr(key, name), name, datetime.now(UTC))
        write_private(files.key, key_pem(key))
        write_public(files.cert, issued.pem.encode())
        write_public(files.hub_ca, self.ca.ca_pem.encode())
        write_public(files.hub_pin, self.ca.client_fingerprint.encode())
        return files

    def hub_context(self) -> ssl.SSLContext:
        """The hub's client context (its client certificate; the hub CA only)."""
        ca = self.ca
        return hub_client_context(ca.client_cert_file, ca.client_key_file, ca.ca_file)

    def pin(self) -> HubPin:
        return HubPin(self.ca.client_fingerprint)


def server_context(files: AgentFiles) -> ssl.SSLContext:
    return agent_server_context(files.cert, files.key, files.hub_ca)


def hostname(name: str) -> str:
    """What the hub checks an agent's certificate for."""
    return agent_dns_name(name)


def loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@contextlib.asynccontextmanager
async def running(agent: Agent, context: ssl.SSLContext) -> AsyncIterator[str]:
    """``agent`` served over TLS on loopback; yields its base URL."""
    sock = loopback_socket()
    port = sock.getsockname()[1]
    stop = asyncio.Event()
    task = asyncio.create_task(agent.serve(sock, context, stop))
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        stop.set()
        await task
        sock.close()


@contextlib.asynccontextmanager
async def serving_tls(app: web.Application, context: ssl.SSLContext) -> AsyncIterator[str]:
    """Any aiohttp ``app`` over TLS on loopback (a hostile agent); yields its base URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    sock = loopback_socket()
    site = web.SockSite(runner, sock, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()
        sock.close()


class Hostile:
    """Answers each path with what the test put in :attr:`routes` (404 otherwise)."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.sent = 0

    def json(self, path: str, body: object, status: int = 200) -> None:
        async def answer(request: web.Request) -> web.Response:
            return web.Response(
                text=body if isinstance(body, str) else json.dumps(body),
                status=status,
                content_type="application/json",
            )

        self.routes[path] = answer

    def app(self) -> web.Application:
        async def dispatch(request: web.Request) -> web.StreamResponse:
            handler = self.routes.get(request.path)
            if handler is None:
                return web.json_response({"error": "not_found"}, status=404)
            return await handler(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", dispatch)
        return app


async def no_wait(seconds: float) -> None:
    """A retry pause that does not wait (tests never sleep)."""


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
