"""What every page shares: templates, cookies, CSRF, and resolving and authorising the viewer."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from hostwarden.core.guard import Decision, Verdict
from hostwarden.core.qr import qr_png
from hostwarden.core.service import AccessCore
from hostwarden.core.totp import Enrolment
from hostwarden.metrics import Metrics, timer
from hostwarden.web import format as filters
from hostwarden.web.forms import read_form
from hostwarden.web.hostparam import host_binding, host_context
from hostwarden.web.identities import Identities
from hostwarden.web.security import CsrfSigner
from hostwarden.web.services import ConsoleServices
from hostwarden.web.settings import WebSettings
from hostwarden.web.viewer import Viewer, client_ip, user_agent

TEMPLATES = Path(__file__).parent / "templates"


_UNSET = object()
# What this console ever issues: token_urlsafe(32) for sessions and pre-login bindings.
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{20,128}")


class Denied(Exception):
    """Raised by :meth:`Console.require`; carries the response to send instead."""

    def __init__(self, response: Response) -> None:
        super().__init__("denied")
        self.response = response


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def here(request: Request) -> str:
    """This request's path, with its query for a GET (where to come back to after a login)."""
    query = request.url.query if request.method in ("GET", "HEAD") else ""
    target = request.url.path + (f"?{query}" if query else "")
    return target if len(target) <= 1000 else request.url.path[:1000]


class Console:
    """The console's state: the core, its settings, templates and CSRF signer."""

    def __init__(self, core: AccessCore, settings: WebSettings, services: ConsoleServices) -> None:
        self.core = core
        self.settings = settings
        self.services = services
        key = settings.secret_key.get_secret_value().encode() if settings.secret_key else None
        self.signer = CsrfSigner(key)
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        filters.install(self.templates.env)
        self.identities = Identities(core)
        self.metrics: Metrics | None = None  # set by create_app when metrics.console is on

    # Cookies

    def set_session(self, response: Response, token: str) -> None:
        response.set_cookie(
            self.settings.cookie_name,
            token,
            max_age=self.core.settings.sessions.absolute_seconds,
            path="/",
            secure=not self.settings.plain_http,
            httponly=True,
            samesite="strict",
        )

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(
            self.settings.cookie_name, path="/", secure=not self.settings.plain_http,
            httponly=True, samesite="strict",
        )  # fmt: skip

    def csrf_binding(self, request: Request) -> str:
        """The pre-login CSRF binding from its cookie ('' if none or not one this site issues)."""
        return _issued(request.cookies.get(self.settings.csrf_cookie_name, ""))

    def set_csrf_binding(self, response: Response, binding: str) -> None:
        response.set_cookie(
            self.settings.csrf_cookie_name, binding, path="/",
            secure=not self.settings.plain_http, httponly=True, samesite="strict",
        )  # fmt: skip

    # Viewer

    async def viewer(self, request: Request) -> Viewer | None:
        """The logged-in viewer, once per request; ``None`` without a live, bound session."""
        cached = getattr(request.state, "viewer", _UNSET)
        if cached is not _UNSET:
            return cast(Viewer | None, cached)
        viewer, _ = await self._sight(request)
        return viewer

    async def _sight(
        self, request: Request, action: str | None = None, host: str | None = None
    ) -> tuple[Viewer | None, Decision | None]:
        """The viewer and, with ``action``, the guard's decision: one store step
        (:mod:`hostwarden.core.viewing`). The viewer is kept for the rest of the request."""
        token = _issued(request.cookies.get(self.settings.cookie_name, ""))
        ip, agent = client_ip(request), user_agent(request)
        sight = await self.core.viewing.view(token, ip, agent, action, host)
        found: Viewer | None = None
        if sight.record is not None and sight.user is not None:
            found = Viewer(sight.user, sight.record, token, ip, agent, sight.enrolled)
        request.state.viewer = found
        return found, sight.decision

    async def logged_in(self, request: Request) -> Viewer:
        """The viewer, half logged in or not; without a session, raises a redirect to /login."""
        viewer = await self.viewer(request)
        if viewer is None:
            raise Denied(RedirectResponse("/login", 303))
        return viewer

    async def second_factor_due(self, viewer: Viewer) -> str | None:
        """Where a half-logged-in viewer must go first: the code page or forced enrolment."""
        if viewer.session.mfa_at is not None:
            return None
        enrolled = viewer.enrolled
        if enrolled is None:
            enrolled = await self.core.totp.is_enrolled(viewer.user)
        if enrolled:
            return "/login/code"
        if viewer.is_admin:
            return "/enrol"
        return None

    async def require(self, request: Request, action: str, host: str | None = None) -> Viewer:
        """The viewer, if the guard allows ``action`` (on fleet host ``host``, if named); else
        raises :class:`Denied`.

        Without a session: to /login; half logged in or without a fresh code: to the code step
        (or enrolment); over the rate limit: 429; refused: 403. Each comes back to this page.
        """
        started = timer()
        cached = getattr(request.state, "viewer", _UNSET)
        if cached is _UNSET:  # the session, its user and the decision in one store step
            viewer, decision = await self._sight(request, action, host)
        else:  # the viewer was resolved earlier in this request: the guard decides apart
            viewer, decision = cast(Viewer | None, cached), None
        back = quote(here(request))
        if viewer is None:
            raise Denied(RedirectResponse(f"/login?next={back}", 303))
        due = await self.second_factor_due(viewer)
        if due is not None:
            raise Denied(RedirectResponse(f"{due}?next={back}", 303))
        if decision is None:
            started = timer()
            decision = await self.core.guard.decide(viewer.actor(), action, host)
        if self.metrics is not None:
            self.metrics.decided("web", decision.verdict, timer() - started)
        if decision.verdict is Verdict.ALLOW:
            return viewer
        if decision.verdict is Verdict.ASK_TOTP:
            raise Denied(RedirectResponse(f"/login/code?next={back}", 303))
        raise Denied(self.refusal(request, viewer, decision))

    def _granted(self, viewer: Viewer | None) -> frozenset[str] | None:
        return self.core.guard.hosts_for(viewer.user) if viewer is not None else frozenset()

    def refusal(self, request: Request, viewer: Viewer, decision: Decision) -> Response:
        """The page for a decision that did not allow: 429 over the rate limit, else 403."""
        if decision.verdict is Verdict.DROP and decision.reason == "rate":
            seconds = self.core.settings.access.rate_window_seconds
            response = self.page(
                request, "slow.html", viewer, 429, seconds=seconds,
                retry=local_path(request.url.path),
            )  # fmt: skip
            response.headers["retry-after"] = str(seconds)
            return response
        return self.page(request, "error.html", viewer, 403, status=403,
                         message=decision.reply or "Access denied.")  # fmt: skip

    async def form(self, request: Request, viewer: Viewer | None) -> FormData:
        """The posted form, once its CSRF token is checked; else raises :class:`Denied`.

        Only a small URL-encoded body is read (:func:`hostwarden.web.forms.read_form`).
        """
        form = await read_form(request)
        await self.check_csrf(request, form, viewer)
        return form

    async def check_csrf(self, request: Request, form: Any, viewer: Viewer | None) -> None:
        """Refuse a POST whose token does not match this session (or pre-login cookie)."""
        binding = viewer.session.token_hash if viewer else self.csrf_binding(request)
        if not self.signer.valid(binding + host_binding(request), str(form.get("csrf") or "")):
            raise Denied(self.page(request, "error.html", viewer, 403, status=403,
                                   message="This form has expired or was not sent by this site; reload the page and try again."))  # fmt: skip  # noqa: E501

    # Rendering

    def enrolment_page(
        self, request: Request, viewer: Viewer, enrolment: Enrolment, reason: str, action: str
    ) -> Response:
        """The QR (shown this once), the key for manual entry, and a form posting to ``action``."""
        qr = base64.b64encode(qr_png(enrolment.uri)).decode()
        return self.page(
            request, "enrol.html", viewer, reason=reason, qr=qr, secret=enrolment.secret,
            action=action,
        )  # fmt: skip

    def page(
        self, request: Request, template: str, viewer: Viewer | None, status_code: int = 200,
        binding: str | None = None, **context: Any,
    ) -> Response:  # fmt: skip
        """Render ``template``; the CSRF token for its forms comes along.

        The token is bound to the viewer's session, else to ``binding`` or the pre-login cookie.
        """
        if binding is None:
            binding = viewer.session.token_hash if viewer else self.csrf_binding(request)
            binding = binding and binding + host_binding(request)
        if viewer is not None:  # the header's logout form: the session's token, whatever the host
            context.setdefault("logout_csrf", self.signer.token_for(viewer.session.token_hash))
        context.setdefault("error", None)
        context.setdefault("notice", None)
        context.setdefault("reveal", False)
        return self.templates.TemplateResponse(
            request,
            template,
            {
                "viewer": viewer,
                "csrf": self.signer.token_for(binding) if binding else "",
                **host_context(request, self.services.hosts(), self._granted(viewer)),
                **context,
            },
            status_code=status_code,
        )


def _issued(value: str) -> str:
    """``value`` if it looks like a token this console issued, else ''."""
    return value if _COOKIE_VALUE.fullmatch(value) else ""
