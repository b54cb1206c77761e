"""/host: what the bot's /status shows, plus disks, network and the top processes.

The page reloads itself every :data:`REFRESH_SECONDS` with ``<meta http-equiv="refresh">`` (no
script: the CSP's ``script-src 'none'`` does not govern it) and has a plain reload link.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from hostwarden.host.metrics import HostReader, HostStatus, InterfaceReading, ProcessReading
from hostwarden.web.console import Console

ACTION = "host.view"
REFRESH_SECONDS = 30
TOP_PROCESSES = 8


@dataclass(frozen=True, slots=True)
class HostPage:
    """One reading of everything the page shows."""

    status: HostStatus
    network: tuple[InterfaceReading, ...]
    by_cpu: list[ProcessReading]
    by_memory: list[ProcessReading]


def read_host(reader: HostReader, top: int = TOP_PROCESSES) -> HostPage:
    """Read the host (blocking: psutil, and a short CPU sample; run it in a thread)."""
    by_cpu, by_memory = reader.processes(top)
    return HostPage(reader.status(), reader.network(), by_cpu, by_memory)


async def host(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACTION)
    reading = await asyncio.to_thread(read_host, console.services.host)
    return console.page(
        request, "host.html", viewer, h=reading, refresh=REFRESH_SECONDS,
        now=console.core.clock.now(),
    )  # fmt: skip
