"""The host a console request is about: its ``host`` query parameter (none: the default host).

Pages about one host (``/host``, ``/containers``, ``/containers/NAME``, ``/images`` and the
start / stop / restart questions) read ``?host=NAME``; the links and forms they render carry it on
(:func:`host_context`), and a request naming a host binds its CSRF token to it
(:func:`host_binding`). The guard decides on the name (:mod:`hostwarden.web.hosts`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from hostwarden.fleet.target import Fleet

PARAM = "host"
#: Pages about one host; the picker stays on them (a container's page goes to the list).
HOST_PAGES = ("/host", "/containers", "/images")


def named_host(request: Request) -> str | None:
    """The ``host`` parameter as sent (``None`` when absent or empty)."""
    return request.query_params.get(PARAM) or None


def host_page(path: str) -> bool:
    """Whether ``path`` is a page about one host."""
    return path in HOST_PAGES or path.startswith("/containers/")


def host_binding(request: Request) -> str:
    """What a host page naming a host adds to its CSRF binding: a form of one host's page is
    worth nothing for another host's (the logout form keeps the session's plain token)."""
    host = named_host(request)
    return f"|host={host[:64]}" if host and host_page(request.url.path) else ""


def host_context(request: Request, fleet: Fleet, granted: frozenset[str] | None) -> dict[str, Any]:
    """What templates need for the picker and for links that stay on the chosen host.

    ``hq`` / ``hqa`` are ``?host=NAME`` / ``&host=NAME`` while the request names a host (valid
    names only: letters, digits and ``-``, nothing to escape), else empty.
    """
    chosen = getattr(request.state, "host", None)
    named = chosen if chosen is not None and named_host(request) else None
    path = request.url.path
    stay = path if path in HOST_PAGES else ("/containers" if host_page(path) else "/host")
    return {
        "host_names": [n for n in fleet.names() if granted is None or n in granted],
        "chosen_host": chosen or fleet.default,
        "picker_action": stay,
        "hq": f"?{PARAM}={named}" if named else "",
        "hqa": f"&{PARAM}={named}" if named else "",
    }
