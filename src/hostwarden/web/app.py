"""The console's Starlette application."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hostwarden.config import Settings
from hostwarden.core.service import AccessCore
from hostwarden.errors import ConfigError
from hostwarden.listening import is_loopback
from hostwarden.metrics import Metrics, health
from hostwarden.web import audit, auth, containers, effective, host, hosts, manage, pages, users
from hostwarden.web.actions import ACCOUNT
from hostwarden.web.console import Console, Denied
from hostwarden.web.enroll import enroll as enroll_agent
from hostwarden.web.forms import MESSAGES, RequestLimits
from hostwarden.web.proxy import ProxyHeaders
from hostwarden.web.security import SecurityHeaders
from hostwarden.web.services import ConsoleServices

STATIC = Path(__file__).parent / "static"


async def denied(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Denied)
    return exc.response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    console: Console = request.app.state.console
    message = {404: "Not found.", **MESSAGES}.get(exc.status_code, MESSAGES[400])
    return console.page(
        request, "error.html", None, exc.status_code, status=exc.status_code, message=message
    )


async def server_error(request: Request, exc: Exception) -> Response:
    console: Console = request.app.state.console
    return console.page(
        request, "error.html", None, 500, status=500, message="Something failed; it was logged."
    )


FORWARDED = (b"x-forwarded-for", b"x-real-ip", b"forwarded")


async def healthz(request: Request) -> Response:
    """200 ``ok`` while the store answers, else 503 ``store``; nothing secret either way."""
    console: Console = request.app.state.console
    ok, reason = await health(console.core)
    return PlainTextResponse(reason, status_code=200 if ok else 503)


async def scrape(request: Request) -> Response:
    """The Prometheus text, for a loopback client that no proxy forwarded only (else 404)."""
    console: Console = request.app.state.console
    peer = request.scope.get("client")
    forwarded = any(name in FORWARDED for name, _ in request.scope.get("headers", ()))
    if console.metrics is None or forwarded or not is_loopback(peer[0] if peer else None):
        return PlainTextResponse("not found", status_code=404)
    body = await console.metrics.exposition(console.core)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def create_app(
    core: AccessCore,
    settings: Settings,
    services: ConsoleServices | None = None,
    metrics: Metrics | None = None,
) -> Starlette:
    """The console over a started ``core``; ``settings`` is shown (secrets hidden) on /settings.

    ``services`` (the host reader, container engine and registry checker behind the host and
    container pages) are built from ``settings`` unless given. With ``metrics.console`` on, the
    console also serves ``/healthz`` and ``/metrics`` (``metrics`` is built unless given).
    """
    if core.policy.rule_for(ACCOUNT) is None:
        raise ConfigError("the console needs a core built with hostwarden.web.actions.web_policy()")
    routes = [
        Route("/", pages.dashboard),
        Route("/login", auth.login_page, methods=["GET"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/login/code", auth.code_page, methods=["GET"]),
        Route("/login/code", auth.submit_code, methods=["POST"]),
        Route("/enrol", auth.enrol_page, methods=["GET"]),
        Route("/enrol", auth.confirm_enrolment, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        Route("/host", host.host),
        Route("/hosts", hosts.hosts_page),
        Route("/containers", containers.containers_page),
        Route("/containers/{name}", containers.container_page),
        Route("/containers/{name}/{verb}", manage.manage, methods=["GET", "POST"]),
        Route("/images", containers.images_page),
        Route("/audit", audit.audit),
        Route("/audit.csv", audit.audit_export),
        Route("/audit.jsonl", audit.audit_export),
        Route("/blocks", pages.blocks),
        Route("/blocks/unblock", pages.unblock, methods=["POST"]),
        Route("/sessions", pages.sessions),
        Route("/sessions/revoke", pages.revoke, methods=["GET", "POST"]),
        Route("/settings", effective.settings_page),
        Route("/account", pages.account),
        Route("/account/recovery", pages.new_recovery_codes, methods=["POST"]),
        Route("/users", users.users_page, methods=["GET"]),
        Route("/users", users.add_user, methods=["POST"]),
        Route("/users/{name}", users.user_page, methods=["GET"]),
        Route("/users/{name}/{op}", users.confirm_action, methods=["GET"]),
        Route("/users/{name}/{op}", users.user_action, methods=["POST"]),
        Route("/fleet/enroll", enroll_agent, methods=["POST"]),  # agents: JSON, no CSRF
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    if settings.metrics.console:
        routes += [Route("/healthz", healthz), Route("/metrics", scrape)]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, hsts=not settings.web.plain_http),
            Middleware(ProxyHeaders, settings=settings.web),  # before anything reads the client
            Middleware(RequestLimits),  # before any handler reads a body
        ],
        exception_handlers={Denied: denied, HTTPException: http_error, 500: server_error},
    )
    # No "/users/" -> "/users" redirects: Starlette builds them absolute, from the Host header.
    app.router.redirect_slashes = False
    console = Console(core, settings.web, services or ConsoleServices.build(settings))
    if settings.metrics.console:
        console.metrics = metrics or Metrics()
        console.metrics.watch(core)
    app.state.console = console
    app.state.settings = settings
    return app
