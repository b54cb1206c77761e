"""Serving the console with uvicorn, inside a running event loop, until told to stop.

The socket is bound here, not by uvicorn: uvicorn answers a taken port with ``sys.exit`` from
inside the event loop (a traceback), where :func:`listen` raises one :class:`ListenError` line.
"""

from __future__ import annotations

import asyncio
import errno
import socket

import uvicorn

from hostwarden.config import Settings
from hostwarden.core.service import AccessCore
from hostwarden.errors import HostwardenError
from hostwarden.web.app import create_app
from hostwarden.web.services import ConsoleServices

BACKLOG = 2048


class ListenError(HostwardenError, OSError):
    """The console cannot listen where it was told to (one line; an ``OSError`` too)."""

    code = "listen"


def _reason(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port} of {host}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    return f"cannot listen on {host}:{port}: {exc.strerror or type(exc).__name__}"


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound and listening on ``host``:``port``; else a :class:`ListenError`."""
    shown = host[:60]
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (OSError, UnicodeError):
        raise ListenError(f"cannot listen on {shown!r}: no such host") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(_reason(exc, shown, port)) from None
    return sock


def make_server(
    core: AccessCore,
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    services: ConsoleServices | None = None,
) -> uvicorn.Server:
    """A uvicorn server for the console; hostwarden's logging stays in charge (log_config=None).

    ``host`` and ``port`` override the settings' and are checked like them: plain HTTP on
    anything but loopback is a :class:`hostwarden.errors.ConfigError`.
    """
    web = settings.web.listening_on(host, port)
    config = uvicorn.Config(
        create_app(core, settings.model_copy(update={"web": web}), services),
        host=web.host,
        port=web.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # hostwarden.web.proxy reads forwarded headers, from a proxy only
        server_header=False,
        lifespan="off",
    )
    return uvicorn.Server(config)


async def serve_until(
    server: uvicorn.Server, stop: asyncio.Event, sock: socket.socket | None = None
) -> None:
    """Run ``server`` on ``sock`` (else a socket bound now, see :func:`listen`) until ``stop``."""
    if sock is None:
        sock = listen(server.config.host, server.config.port)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        server.should_exit = True
        await task
    finally:
        sock.close()


async def wait_started(
    server: uvicorn.Server, serving: asyncio.Task[None], seconds: float = 10
) -> int:
    """Wait (bounded) until ``server`` listens; its port. Raises OSError if it could not bind."""
    for _ in range(int(seconds / 0.02)):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.02)  # uvicorn offers no event for "bound"
    if serving.done() and not serving.cancelled() and (error := serving.exception()) is not None:
        raise error  # ListenError, an OSError, for a taken port
    if not server.started:
        raise OSError(
            f"the web console could not listen on {server.config.host}:{server.config.port}"
        )
    return bound_port(server)


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server listens on (useful with port 0)."""
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the server is not listening")
