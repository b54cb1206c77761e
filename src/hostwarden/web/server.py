"""Serving the console with uvicorn, inside a running event loop, until told to stop."""

from __future__ import annotations

import asyncio

import uvicorn

from hostwarden.config import Settings
from hostwarden.core.service import AccessCore
from hostwarden.web.app import create_app


def make_server(
    core: AccessCore, settings: Settings, host: str | None = None, port: int | None = None
) -> uvicorn.Server:
    """A uvicorn server for the console; hostwarden's logging stays in charge (log_config=None)."""
    config = uvicorn.Config(
        create_app(core, settings),
        host=host or settings.web.host,
        port=settings.web.port if port is None else port,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is read only when web.trusted_proxy says so
        server_header=False,
        lifespan="off",
    )
    return uvicorn.Server(config)


async def serve_until(server: uvicorn.Server, stop: asyncio.Event) -> None:
    """Run ``server`` until ``stop`` is set."""
    task = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    server.should_exit = True
    await task


async def wait_started(
    server: uvicorn.Server, serving: asyncio.Task[None], seconds: float = 10
) -> int:
    """Wait (bounded) until ``server`` listens; its port. Raises OSError if it could not bind."""
    for _ in range(int(seconds / 0.02)):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.02)  # uvicorn offers no event for "bound"
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
