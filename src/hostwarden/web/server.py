"""Serving the console with uvicorn, inside a running event loop, until told to stop.

The socket is bound first, not by uvicorn: uvicorn answers a taken port with ``sys.exit`` from
inside the event loop (a traceback), where :func:`hostwarden.listening.listen` (re-exported here)
raises one :class:`ListenError` line.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from hostwarden.config import Settings
from hostwarden.core.service import AccessCore
from hostwarden.listening import BACKLOG as BACKLOG
from hostwarden.listening import ListenError as ListenError
from hostwarden.listening import listen as listen
from hostwarden.web.app import create_app
from hostwarden.web.services import ConsoleServices


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
