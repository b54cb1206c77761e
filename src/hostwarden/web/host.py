"""/host: what the bot's /status shows, plus disks, network and the top processes, of the chosen
host (``?host=NAME``; the hub's own by default).

The page reloads itself every :data:`REFRESH_SECONDS` with ``<meta http-equiv="refresh">`` (no
script: the CSP's ``script-src 'none'`` does not govern it) and has a plain reload link. A host
that does not answer gives the page with one line saying so and when it last did.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hostwarden.errors import HostwardenError
from hostwarden.fleet.target import TOP_PROCESSES
from hostwarden.web.console import Console
from hostwarden.web.hosts import require_host

ACTION = "host.view"
REFRESH_SECONDS = 30


async def host(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer, chosen = await require_host(console, request, ACTION)
    overview = console.services.host_overview(console.core.clock)
    now = console.core.clock.now()
    try:
        reading = await chosen.report(TOP_PROCESSES)
    except HostwardenError as exc:
        return console.page(
            request, "host_down.html", viewer, name=console.services.title(chosen),
            problem=str(exc)[:200], seen=overview.last_seen(chosen.name), now=now,
        )  # fmt: skip
    overview.saw(chosen.name)
    return console.page(
        request, "host.html", viewer, h=reading, refresh=REFRESH_SECONDS, now=now,
        name=console.services.title(chosen),
    )  # fmt: skip
