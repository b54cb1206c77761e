"""``POST /fleet/enroll``: an agent trades its enrolment token and a CSR for a certificate.

Not a browser form, so no CSRF token (there is no session to bind one to: the token is the
credential). Browsers are kept out instead: the body must be typed ``application/json``, even when
empty (:mod:`hostwarden.web.forms`; a cross-site page can only send that after a CORS preflight,
which the console never grants), and a request whose ``Sec-Fetch-Site`` says another site or whose
``Origin`` is not the console's own is refused (403) before anything is read or counted. The body
is JSON ``{"token": ..., "csr": ...}`` of at most :data:`MAX_ENROL_BODY` bytes.

Only a refused token counts: the core's guard counts it as a stranger's attempt from the
client's address, under a key of its own (``enrol:IP``, see :attr:`Actor.realm`), so guessing is
rate limited, alerted and blocked like any other, but cannot block the console's logins from that
address. A body that cannot be read or a CSR that cannot be used (400, 413, 415) is answered and
not counted: the token is not even looked at then. An address blocked either way (``enrol:IP`` or
``ip:IP``) is refused before its token is looked at. The answer to a refused token is one and the
same whatever was wrong with it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hostwarden.core.decision import actor_ref
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore
from hostwarden.errors import HostwardenError, NotFound
from hostwarden.fleet.enrolment import Enrolled, EnrolmentRefused, HubEnrolment
from hostwarden.fleet.pki import HubCA, ca_directory
from hostwarden.web.viewer import client_ip

MAX_ENROL_BODY = 16 * 1024
#: The guard's action for an enrolment attempt (no role has it: strangers are counted).
ENROL_ACTION = "fleet.enroll"
#: What enrolment attempts are counted under: ``enrol:IP``, apart from the console's logins.
REALM = "enrol"
#: ``Sec-Fetch-Site`` values of a request a page of another site (or subdomain) made.
CROSS_SITE = frozenset({"cross-site", "same-site"})


class _Unreadable(HostwardenError):
    """A body that cannot be read as an enrolment request; ``status`` is the answer's."""

    code = "unreadable"

    def __init__(self, status: int) -> None:
        super().__init__("unreadable request")
        self.status = status


async def _body(request: Request) -> dict[str, Any]:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_ENROL_BODY:
            raise _Unreadable(413)
    try:
        body = json.loads(bytes(data))
    except (ValueError, RecursionError):
        raise _Unreadable(400) from None
    if not isinstance(body, dict):
        raise _Unreadable(400)
    return body


async def _enrol(request: Request, core: AccessCore, actor: Actor) -> Enrolled:
    body = await _body(request)
    data_dir = request.app.state.settings.storage.data_dir
    try:
        ca = await asyncio.to_thread(HubCA.load, ca_directory(data_dir))
    except NotFound:  # no CA, so no token was ever issued here
        raise EnrolmentRefused from None
    cert_days = request.app.state.settings.fleet.cert_days
    hub = HubEnrolment(core.store, ca, core.audit, core.clock, cert_days)
    return await hub.enrol(body.get("token"), body.get("csr"), actor_ref(actor))


def _error(status: int, message: str | None = None) -> Response:
    message = message or {403: "enrolment refused", 413: "too large"}.get(status, "bad request")
    return JSONResponse({"error": message}, status_code=status)


def _default_port(scheme: str) -> int | None:
    return {"https": 443, "http": 80}.get(scheme)


def _same_origin(origin: str, request: Request) -> bool:
    """Whether ``origin`` (an ``Origin`` header) is the console's own scheme, host and port."""
    try:
        parts = urlsplit(origin)
        port = parts.port or _default_port(parts.scheme)
    except ValueError:
        return False
    url = request.url
    ours = (url.scheme, (url.hostname or "").lower(), url.port or _default_port(url.scheme))
    return (parts.scheme, (parts.hostname or "").lower(), port) == ours and not parts.path


def from_a_browser_elsewhere(request: Request) -> bool:
    """Whether a browser sent this on another site's behalf (agents send neither header)."""
    site = request.headers.get("sec-fetch-site", "").strip().lower()
    if site in CROSS_SITE:
        return True
    origins = request.headers.getlist("origin")
    return bool(origins) and (len(origins) > 1 or not _same_origin(origins[0], request))


async def enroll(request: Request) -> Response:
    """Enrol an agent, or refuse it (see the module's rules)."""
    if from_a_browser_elsewhere(request):  # nothing read, nothing counted
        return _error(403, "cross-site request refused")
    core: AccessCore = request.app.state.console.core
    actor = Actor(ip=client_ip(request), realm=REALM)
    if await core.lockout.blocked(actor.lockout_keys()) is not None:
        await core.guard.decide(actor, ENROL_ACTION)  # records the blocked attempt, counts none
        return _error(403)
    try:
        enrolled = await _enrol(request, core, actor)
    except _Unreadable as exc:  # not an attempt at a token: answered, not counted
        return _error(exc.status)
    except EnrolmentRefused:
        await core.guard.decide(actor, ENROL_ACTION)  # a stranger's failed attempt: counted
        return _error(403)
    except HostwardenError:  # a CSR that cannot be used (the token was not looked at)
        return _error(400)
    return JSONResponse(
        {
            "certificate": enrolled.certificate,
            "ca": enrolled.ca,
            "hub_client_fingerprint": enrolled.hub_client_fingerprint,
            "hub_client_certificate": enrolled.hub_client_certificate,
        }
    )
