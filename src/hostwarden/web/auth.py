"""Logging in (password, then a code or forced enrolment), stepping up, logging out."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hostwarden.core.accounts import LOGIN_FAILED
from hostwarden.core.totp import TotpOutcome
from hostwarden.errors import HostwardenError
from hostwarden.web.console import Console, local_path
from hostwarden.web.viewer import client_ip, user_agent

CODE_ERRORS = {
    TotpOutcome.INVALID: "That code was not accepted.",
    TotpOutcome.REPLAYED: "That code was already used; wait for the next one.",
    TotpOutcome.BLOCKED: "Too many wrong codes: two-factor login is blocked for a while.",
    TotpOutcome.NOT_ENROLLED: "No second factor is enrolled.",
}


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


async def login_page(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.viewer(request)
    if viewer is not None and await console.second_factor_due(viewer) is None:
        return redirect(local_path(request.query_params.get("next")))
    binding = console.csrf_binding(request) or console.signer.new_binding()
    next_path = local_path(request.query_params.get("next"))
    response = console.page(request, "login.html", None, binding=binding, next=next_path)
    console.set_csrf_binding(response, binding)
    return response


async def login(request: Request) -> Response:
    console: Console = request.app.state.console
    form = await console.form(request, None)
    username = str(form.get("username") or "")[:200]
    password = str(form.get("password") or "")[:1000]
    next_path = local_path(str(form.get("next") or ""))
    result = await console.core.accounts.login(
        username, password, client_ip(request), user_agent(request)
    )
    if not result.ok or result.session is None or result.user is None:
        # The same page and words for an unknown user, a wrong password and a locked account;
        # the name typed stays in its field (it is the visitor's own input, escaped).
        return console.page(
            request, "login.html", None, error=LOGIN_FAILED, username=username, next=next_path
        )
    # A new session ID now; the code step rotates it again. Pages send an admin without a
    # factor to forced enrolment.
    if result.needs_totp:
        target = "/login/code" + (f"?next={quote(next_path)}" if next_path != "/" else "")
    else:
        target = next_path
    response = redirect(target)
    console.set_session(response, result.session.token)
    return response


async def code_page(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.logged_in(request)
    if not await console.core.totp.is_enrolled(viewer.user):
        return redirect("/enrol")
    reason = (
        "Enter a code from your authenticator app to finish logging in."
        if viewer.session.mfa_at is None
        else "This page needs a fresh code."
    )
    next_path = local_path(request.query_params.get("next"))
    return console.page(request, "code.html", viewer, reason=reason, next=next_path)


async def submit_code(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.logged_in(request)
    form = await console.form(request, viewer)
    code = str(form.get("code") or "").strip()[:40]
    next_path = local_path(str(form.get("next") or ""))
    recovery = "-" in code
    outcome, session = await console.core.accounts.second_factor(
        viewer.user, viewer.token, code, recovery=recovery
    )
    if outcome is TotpOutcome.ACCEPTED and session is not None:
        response = redirect(next_path)
        console.set_session(response, session.token)
        return response
    return console.page(
        request, "code.html", viewer, error=CODE_ERRORS[outcome],
        reason="Enter a code from your authenticator app.", next=next_path,
    )  # fmt: skip


async def enrol_page(request: Request) -> Response:
    """Forced for admins without a factor (and open to anyone without one)."""
    console: Console = request.app.state.console
    viewer = await console.logged_in(request)
    try:
        enrolment = await console.core.totp.begin_enrolment(viewer.user)
    except HostwardenError:  # already enrolled: re-enrolment goes through /account
        return redirect("/login/code" if viewer.session.mfa_at is None else "/account")
    reason = (
        "Admins must use two-factor codes. Set them up to continue."
        if viewer.is_admin
        else "Protect your account with two-factor codes."
    )
    return console.enrolment_page(request, viewer, enrolment, reason, "/enrol")


async def confirm_enrolment(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.logged_in(request)
    form = await console.form(request, viewer)
    try:
        codes = await console.core.totp.confirm_enrolment(viewer.user, str(form.get("code") or ""))
    except HostwardenError as exc:
        message = f"{exc}. Start again from /enrol."
        return console.page(request, "error.html", viewer, 400, status=400, message=message)
    session = await console.core.sessions.rotate(viewer.token, mfa=True)
    if session is None:
        return redirect("/login")
    response = console.page(request, "codes.html", None, codes=codes, next="/", for_user=None)
    console.set_session(response, session.token)
    return response


async def logout(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.viewer(request)
    if viewer is not None:
        await console.form(request, viewer)
        await console.core.accounts.logout(viewer.token, viewer.ref)
    response = redirect("/login")
    console.clear_session(response)
    return response
