"""The agent's HTTP API (aiohttp, JSON, ``/v1/...``), served to the hub over mutual TLS.

The TLS context decides who may talk (only a client certificate signed by the hub's CA); this app
holds no other access policy, no users and no token. Its one local ceiling is ``read_only``:
start, stop and restart are refused with 403 whatever the hub asks. Every start, stop, restart,
refusal and certificate change is written to the :class:`OperationLog` with the fingerprint of
the hub's certificate. Errors are ``{"error": code, "message": one line}``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Annotated

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import Field, ValidationError

from hostwarden import __version__
from hostwarden.containers.engine import check_container_name
from hostwarden.errors import HostwardenError, InvalidInput
from hostwarden.fleet.feed import AlertRing
from hostwarden.fleet.identity import MAX_PEM, AgentIdentity
from hostwarden.fleet.oplog import OperationLog
from hostwarden.fleet.target import TOP_PROCESSES, LocalHost
from hostwarden.fleet.tls import HubPin, peer_fingerprint
from hostwarden.fleet.wire import API, Report, Wire
from hostwarden.fleet.wire_containers import (
    Container,
    Containers,
    Details,
    Image,
    Images,
    Logs,
    Update,
    UpdateQuery,
    Updates,
    Version,
)

LOG = logging.getLogger("hostwarden.agent")

#: The largest request body the agent reads (a query, a certificate).
MAX_REQUEST = 64 * 1024
VERBS = ("start", "stop", "restart")
_STATUS = {
    "invalid_input": 400,
    "not_found": 404,
    "read_only": 403,
    "not_the_hub": 403,
    "unavailable": 503,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ReadOnly(HostwardenError):
    """This agent refuses to start, stop or restart anything (``--read-only``)."""

    code = "read_only"


class CertificateBody(Wire):
    """``PUT /v1/certificate``: the hub-signed certificate, PEM."""

    certificate: Annotated[str, Field(min_length=1, max_length=MAX_PEM)]


def answer(model: Wire, status: int = 200) -> web.Response:
    """``model`` as a JSON response."""
    return web.Response(
        body=model.model_dump_json().encode(), status=status, content_type="application/json"
    )


def _error(code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": code, "message": message[:300]}, status=_STATUS.get(code, 500)
    )


def _ssl_object(request: web.Request) -> ssl.SSLObject | None:
    transport = request.transport
    found = transport.get_extra_info("ssl_object") if transport is not None else None
    return found if isinstance(found, ssl.SSLObject) else None


def peer_of(request: web.Request) -> str:
    """The hub's certificate fingerprint (``sha256:<hex>``), or ``none`` without TLS."""
    found = peer_fingerprint(_ssl_object(request))
    return f"sha256:{found}" if found else "none"


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HostwardenError as exc:
        return _error(exc.code, str(exc))
    except ValidationError:
        return _error("invalid_input", "the request or the reading is out of bounds")
    except web.HTTPException:
        raise
    except Exception as exc:  # one request failing must not take the agent down
        LOG.warning("agent request failed: %s", type(exc).__name__)
        return _error("internal", "the agent could not answer")


def _pinned(pin: HubPin) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not pin.allows(_ssl_object(request)):
            LOG.warning("refused a client that is not the pinned hub (%s)", peer_of(request)[:19])
            return _error("not_the_hub", "this agent answers its hub only")
        return await handler(request)

    return check


def _number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise InvalidInput(f"{name} must be a whole number")
    return max(low, min(int(raw), high))


def create_agent_app(
    host: LocalHost,
    ring: AlertRing,
    log: OperationLog,
    *,
    read_only: bool = False,
    identity: AgentIdentity | None = None,
    pin: HubPin | None = None,
    version: str = "",
) -> web.Application:
    """The agent's routes over ``host`` (this machine), its alert ``ring`` and operation ``log``.

    With ``pin``, every request whose TLS peer is not the pinned hub certificate gets 403.
    """
    version = version or __version__
    engine = host.engine
    routes = web.RouteTableDef()

    @routes.get(f"{API}/version")
    async def get_version(request: web.Request) -> web.Response:
        return answer(Version(version=version, read_only=read_only))

    @routes.get(f"{API}/report")
    async def get_report(request: web.Request) -> web.Response:
        top = _number(request, "top", TOP_PROCESSES, 1, 50)
        return answer(Report.of(await host.report(top)))

    @routes.get(f"{API}/containers")
    async def get_containers(request: web.Request) -> web.Response:
        found = await engine.containers()
        return answer(Containers(containers=tuple(Container.of(c) for c in found)))

    @routes.get(f"{API}/containers/{{name}}")
    async def get_details(request: web.Request) -> web.Response:
        name = check_container_name(request.match_info["name"])
        return answer(Details.of(await engine.details(name)))

    @routes.get(f"{API}/containers/{{name}}/logs")
    async def get_logs(request: web.Request) -> web.Response:
        name = check_container_name(request.match_info["name"])
        lines = _number(request, "lines", 40, 1, 5000)
        return answer(Logs.model_validate({"text": await engine.logs(name, lines)}))

    @routes.post(f"{API}/containers/{{name}}/{{verb}}")
    async def manage(request: web.Request) -> web.Response:
        verb, peer = request.match_info["verb"], peer_of(request)
        if verb not in VERBS:
            raise web.HTTPNotFound()
        name = check_container_name(request.match_info["name"])
        if read_only:
            log.record(peer, verb, name, "refused:read-only")
            raise ReadOnly(f"this agent is read-only: it refuses to {verb} containers")
        act = {"start": engine.start, "stop": engine.stop, "restart": engine.restart}[verb]
        try:
            summary = await act(name)
        except HostwardenError as exc:
            log.record(peer, verb, name, f"failed:{exc.code}")
            raise
        log.record(peer, verb, name, summary.state[:40])
        LOG.info("%s %s: %s", verb, name, summary.state[:40])
        return answer(Container.of(summary))

    @routes.get(f"{API}/images")
    async def get_images(request: web.Request) -> web.Response:
        found = await engine.images()
        return answer(Images(images=tuple(Image.of(i) for i in found)))

    @routes.post(f"{API}/images/updates")
    async def check_updates(request: web.Request) -> web.Response:
        query = UpdateQuery.model_validate_json(await request.read())
        wanted = set(query.references)
        mine = [i for i in await engine.images() if wanted & set(i.tags)]
        found = await host.image_updates(mine)
        updates = tuple(Update.model_validate(u, from_attributes=True, strict=False) for u in found)
        return answer(Updates(updates=tuple(u for u in updates if u.reference in wanted)))

    @routes.get(f"{API}/events")
    async def get_events(request: web.Request) -> web.Response:
        after = _number(request, "after", 0, 0, 2**62)
        return answer(ring.page(after, request.query.get("boot")))

    @routes.post(f"{API}/renew")
    async def renew(request: web.Request) -> web.Response:
        if identity is None:
            raise InvalidInput("this agent cannot renew its certificate")
        csr = identity.new_request()
        log.record(peer_of(request), "renew", "certificate", "csr made")
        return web.json_response({"csr": csr})

    @routes.put(f"{API}/certificate")
    async def install(request: web.Request) -> web.Response:
        if identity is None:
            raise InvalidInput("this agent cannot renew its certificate")
        body = CertificateBody.model_validate_json(await request.read())
        peer = peer_of(request)
        try:
            expires = identity.install(body.certificate)
        except HostwardenError as exc:
            log.record(peer, "install", "certificate", f"failed:{exc.code}")
            raise
        log.record(peer, "install", "certificate", f"valid until {expires.isoformat()}")
        return web.json_response({"not_after": expires.isoformat()})

    middlewares: list[Middleware] = [_errors] if pin is None else [_pinned(pin), _errors]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_REQUEST)
    app.add_routes(routes)
    return app
