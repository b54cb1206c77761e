"""The chosen host of a page (``?host=NAME``, decided by the guard) and ``/hosts``, the overview.

:func:`require_host` asks the guard for the page's action *on that host*: a user whose
``access.host_grants`` leave it out gets the 403 page and an ``access.denied`` event, whether the
host exists or not (no oracle). A name that cannot be a host name is a 400; a granted name the
fleet does not know a 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hostwarden.errors import InvalidInput, NotFound
from hostwarden.fleet.target import ManagedHost, check_host_name
from hostwarden.web.console import Console, Denied
from hostwarden.web.hostparam import named_host
from hostwarden.web.viewer import Viewer

VIEW = "host.view"


def _valid(name: str) -> bool:
    try:
        check_host_name(name)
    except InvalidInput:
        return False
    return True


async def require_host(
    console: Console, request: Request, action: str
) -> tuple[Viewer, ManagedHost]:
    """The viewer and the host this request is about, if the guard allows ``action`` there."""
    fleet = console.services.hosts()
    name = named_host(request) or fleet.default
    valid = _valid(name)
    viewer = await console.require(request, action, name if valid else None)
    if not valid:
        raise Denied(console.page(request, "error.html", viewer, 400, status=400,
                                  message="That is not a host name."))  # fmt: skip
    try:
        host = fleet.get(name)
    except NotFound:
        raise Denied(console.page(request, "error.html", viewer, 404, status=404,
                                  message="No such host.")) from None  # fmt: skip
    request.state.host = host.name
    return viewer, host


async def hosts_page(request: Request) -> Response:
    """Every host the viewer may see: reachable or not (and since when), CPU, memory, disk and
    containers, read at once with a deadline each."""
    console: Console = request.app.state.console
    viewer = await console.require(request, VIEW)
    fleet = console.services.hosts()
    granted = console.core.guard.hosts_for(viewer.user)
    names = [name for name in fleet.names() if granted is None or name in granted]
    rows = await console.services.host_overview(console.core.clock).read(fleet, names)
    return console.page(
        request, "hosts.html", viewer, rows=rows, default=fleet.default,
        now=console.core.clock.now(),
    )  # fmt: skip
