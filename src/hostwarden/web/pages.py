"""Dashboard, blocks, sessions (revocation asks first), account.

The audit log is in :mod:`hostwarden.web.audit`, the settings page in
:mod:`hostwarden.web.effective`, host and container pages in their own modules.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hostwarden.core.audit import Kind, masked_ref
from hostwarden.storage.base import AuditQuery, SessionRecord
from hostwarden.web.actions import ACCOUNT, FACTORS
from hostwarden.web.chart import Series, bar_chart
from hostwarden.web.confirm import Question, ask, confirmed
from hostwarden.web.console import Console
from hostwarden.web.viewer import Viewer

ATTEMPT_KINDS = (Kind.ACCESS_UNKNOWN, Kind.LOGIN_FAILED, Kind.TOTP_FAILED)


async def dashboard(request: Request) -> Response:
    """The admins' landing page; anyone else lands on their account, a page they may see."""
    console: Console = request.app.state.console
    viewer = await console.viewer(request)
    if viewer is not None and not viewer.is_admin:
        return RedirectResponse("/account", 303)
    viewer = await console.require(request, "admin.audit")
    core = console.core
    now = core.clock.now()
    since = now - timedelta(hours=24)
    attempts: list[datetime] = []
    for kind in ATTEMPT_KINDS:
        events = await core.audit.query(AuditQuery(since=since, kind=kind, limit=20_000))
        attempts += [e.at for e in events]
    alerts = await core.audit.query(AuditQuery(since=since, kind=Kind.ALERT_RAISED, limit=20_000))
    chart = bar_chart(
        [Series("unauthorized attempts", "#c0392b", attempts),
         Series("alerts", "#2c7be5", [e.at for e in alerts])],
        now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1),
    )  # fmt: skip
    return console.page(
        request, "dashboard.html", viewer, chart=chart, alerts=alerts[:10],
        blocks=await core.lockout.list_blocks(), sessions=await core.sessions.list(),
        reveal=await console.identities.reveal(viewer, request.url.path),
    )  # fmt: skip


async def blocks(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, "admin.blocks")
    listed = await console.core.lockout.list_blocks()
    rows = [(block, console.signer.token_for("block:" + block.key)[:24]) for block in listed]
    return console.page(
        request, "blocks.html", viewer, blocks=rows, notice=request.query_params.get("done"),
        reveal=await console.identities.reveal(viewer, request.url.path),
    )  # fmt: skip


async def unblock(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, "admin.blocks")
    form = await console.form(request, viewer)
    ref_ = str(form.get("ref") or "")
    for block in await console.core.lockout.list_blocks():
        if console.signer.token_for("block:" + block.key)[:24] == ref_:
            await console.core.lockout.unblock(block.key, viewer.ref)
            return RedirectResponse("/blocks?done=Block+lifted.", 303)
    return RedirectResponse("/blocks?done=That+block+was+already+gone.", 303)


async def _may(console: Console, viewer: Viewer, action: str) -> bool:
    decision = await console.core.guard.decide(viewer.actor(), action)
    return decision.allowed


async def _visible_sessions(
    console: Console, viewer: Viewer
) -> tuple[bool, list[SessionRecord], dict[int, str]]:
    """Whether the viewer sees everyone's sessions, those sessions, and user names by ID."""
    everyone = viewer.is_admin and await _may(console, viewer, "admin.sessions")
    listed = await console.core.sessions.list(None if everyone else viewer.user.id)
    names = (
        {u.id: u.username for u in await console.core.store.users.list()}
        if everyone
        else {viewer.user.id: viewer.user.username}
    )
    return everyone, listed, names


async def sessions(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACCOUNT)
    everyone, listed, names = await _visible_sessions(console, viewer)
    return console.page(
        request, "sessions.html", viewer, sessions=listed, names=names, everyone=everyone,
        current=viewer.session.token_hash, notice=request.query_params.get("done"),
        reveal=everyone and await console.identities.reveal(viewer, request.url.path),
    )  # fmt: skip


def _revoke_question(
    handle: str, everyone: bool, found: list[SessionRecord], names: dict[int, str], full: bool
) -> Question:
    if handle == "*":
        title = "End every session of every user?" if everyone else "End all your sessions?"
        facts: tuple[tuple[str, str], ...] = (("Sessions", str(len(found))),)
    else:
        [record] = found
        who = names.get(record.user_id, f"#{record.user_id}")
        title = f"End session {handle} of {who}?"
        address = record.ip or "-"
        if record.ip and not full:
            address = masked_ref(f"ip:{record.ip}").removeprefix("ip:")
        facts = (
            ("User", who), ("Address", address), ("Browser", (record.user_agent or "-")[:80]),
            ("Since", record.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        )  # fmt: skip
    button = "End all" if handle == "*" else "End session"
    return Question(
        title, f"revoke:{handle}", "/sessions/revoke", button, "/sessions", facts,
        (("handle", handle),),
    )  # fmt: skip


async def revoke(request: Request) -> Response:
    """GET: the question; POST (from that page): end the session(s)."""
    console: Console = request.app.state.console
    viewer = await console.require(request, ACCOUNT)
    form: Any = request.query_params
    if request.method == "POST":
        form = await console.form(request, viewer)
    handle = str(form.get("handle") or "")[:64].lower()
    everyone, listed, names = await _visible_sessions(console, viewer)
    found = listed if handle == "*" else [s for s in listed if s.handle == handle]
    if not found or (handle != "*" and len(handle) != 12):
        return RedirectResponse("/sessions?done=That+session+was+already+gone.", 303)
    full = everyone and await console.identities.reveal(viewer, request.url.path)
    question = _revoke_question(handle, everyone, found, names, full)
    if request.method != "POST" or not await confirmed(console, viewer, form, question.what):
        return ask(console, request, viewer, question)
    only = None if everyone else viewer.user.id
    if handle == "*":
        count = 0
        for user_id in {s.user_id for s in found}:
            count += await console.core.sessions.revoke_user(user_id, viewer.ref)
    else:
        count = await console.core.sessions.revoke(handle, viewer.ref, only)
    return RedirectResponse(f"/sessions?done={count}+session(s)+revoked.", 303)


async def account(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACCOUNT)
    enrolled = viewer.enrolled  # read with the session, in the same store step
    if enrolled is None:
        enrolled = await console.core.totp.is_enrolled(viewer.user)
    return console.page(request, "account.html", viewer, enrolled=enrolled)


async def new_recovery_codes(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, FACTORS)
    await console.form(request, viewer)
    codes = await console.core.totp.new_recovery_codes(viewer.user)
    return console.page(request, "codes.html", viewer, codes=codes, next="/account", for_user=None)
