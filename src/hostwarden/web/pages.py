"""Dashboard, audit log (filters, keyset pages, exports), blocks, sessions, settings, account."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, SecretStr
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from hostwarden.core.audit import ALL_KINDS, Kind, masked_ref
from hostwarden.storage.base import AuditEvent, AuditQuery
from hostwarden.web.actions import ACCOUNT, FACTORS, SETTINGS
from hostwarden.web.chart import Series, bar_chart
from hostwarden.web.console import Console

PAGE = 50
EXPORT_MAX = 100_000
ATTEMPT_KINDS = (Kind.ACCESS_UNKNOWN, Kind.LOGIN_FAILED, Kind.TOTP_FAILED)


async def dashboard(request: Request) -> Response:
    console: Console = request.app.state.console
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
    )  # fmt: skip


class AuditFilter(BaseModel):
    since: str = ""
    until: str = ""
    kind: str = ""
    actor: str = ""

    def query(self, before: int | None, limit: int) -> AuditQuery:
        return AuditQuery(
            since=_when(self.since), until=_when(self.until), kind=self.kind or None,
            actor=self.actor or None, before_id=before, limit=limit,
        )  # fmt: skip

    def params(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None
    except ValueError:
        return None


def _filter(request: Request) -> tuple[AuditFilter, int | None]:
    q = request.query_params
    kind = q.get("kind", "")
    flt = AuditFilter(
        since=q.get("since", "")[:30], until=q.get("until", "")[:30],
        kind=kind if kind in ALL_KINDS else "", actor=q.get("actor", "")[:300],
    )  # fmt: skip
    before = q.get("before", "")
    return flt, int(before) if before.isascii() and before.isdigit() and len(before) < 19 else None


async def audit(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, "admin.audit")
    flt, before = _filter(request)
    events = await console.core.audit.query(flt.query(before, PAGE))
    next_before = events[-1].id if len(events) == PAGE else None
    params = flt.params()
    return console.page(
        request, "audit.html", viewer, events=events, f=flt, kinds=sorted(ALL_KINDS),
        query=urlencode(params), next_before=next_before,
        next_query=urlencode({**params, "before": next_before}),
    )  # fmt: skip


def export_row(event: AuditEvent) -> dict[str, Any]:
    """An audit event as exported: identities masked as in the logs."""
    return {
        "id": event.id, "at": event.at.isoformat(), "event": event.kind,
        "actor": masked_ref(event.actor) if event.actor else "",
        "subject": masked_ref(event.subject) if event.subject else "",
        "detail": event.detail,
    }  # fmt: skip


async def _all_events(console: Console, flt: AuditFilter) -> AsyncIterator[AuditEvent]:
    before: int | None = None
    sent = 0
    while sent < EXPORT_MAX:
        events = await console.core.audit.query(flt.query(before, 1000))
        for event in events:
            yield event
        sent += len(events)
        if len(events) < 1000:
            return
        before = events[-1].id


async def audit_export(request: Request) -> Response:
    console: Console = request.app.state.console
    await console.require(request, "admin.audit")
    flt, _ = _filter(request)
    as_csv = request.url.path.endswith(".csv")

    async def lines() -> AsyncIterator[str]:
        if as_csv:
            yield "id,at,event,actor,subject,detail\r\n"
        async for event in _all_events(console, flt):
            row = export_row(event)
            if as_csv:
                buffer = io.StringIO()
                csv.writer(buffer).writerow(
                    [row["id"], row["at"], row["event"], row["actor"], row["subject"],
                     json.dumps(row["detail"], default=str, ensure_ascii=False)]
                )  # fmt: skip
                yield _csv_safe(buffer.getvalue())
            else:
                yield json.dumps(row, default=str, ensure_ascii=False) + "\n"

    media = "text/csv" if as_csv else "application/x-ndjson"
    name = "audit.csv" if as_csv else "audit.jsonl"
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(lines(), media_type=media, headers=headers)


def _csv_safe(line: str) -> str:
    # A cell starting with = + - @ runs as a formula in spreadsheets; names come from attackers.
    cells = next(csv.reader([line]))
    guarded = ["'" + c if c[:1] in ("=", "+", "-", "@") else c for c in cells]
    buffer = io.StringIO()
    csv.writer(buffer).writerow(guarded)
    return buffer.getvalue()


async def blocks(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, "admin.blocks")
    listed = await console.core.lockout.list_blocks()
    rows = [(block, console.signer.token_for("block:" + block.key)[:24]) for block in listed]
    return console.page(
        request, "blocks.html", viewer, blocks=rows, notice=request.query_params.get("done")
    )


async def unblock(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, "admin.blocks")
    form = await console.form(request, viewer)
    ref = str(form.get("ref") or "")
    for block in await console.core.lockout.list_blocks():
        if console.signer.token_for("block:" + block.key)[:24] == ref:
            await console.core.lockout.unblock(block.key, viewer.ref)
            return RedirectResponse("/blocks?done=Block+lifted.", 303)
    return RedirectResponse("/blocks?done=That+block+was+already+gone.", 303)


async def sessions(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACCOUNT)
    everyone = viewer.is_admin and (await _may(console, viewer, "admin.sessions"))
    listed = await console.core.sessions.list(None if everyone else viewer.user.id)
    names = (
        {u.id: u.username for u in await console.core.store.users.list()}
        if everyone
        else {viewer.user.id: viewer.user.username}
    )
    return console.page(
        request, "sessions.html", viewer, sessions=listed, names=names, everyone=everyone,
        current=viewer.session.token_hash, notice=request.query_params.get("done"),
    )  # fmt: skip


async def _may(console: Console, viewer: Any, action: str) -> bool:
    decision = await console.core.guard.decide(viewer.actor(), action)
    return decision.allowed


async def revoke(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACCOUNT)
    form = await console.form(request, viewer)
    handle = str(form.get("handle") or "")[:64]
    everyone = viewer.is_admin and await _may(console, viewer, "admin.sessions")
    only = None if everyone else viewer.user.id
    if handle == "*":
        if only is None:
            count = 0
            for user in await console.core.store.users.list():
                count += await console.core.sessions.revoke_user(user.id, viewer.ref)
        else:
            count = await console.core.sessions.revoke_user(only, viewer.ref)
    else:
        count = await console.core.sessions.revoke(handle, viewer.ref, only)
    return RedirectResponse(f"/sessions?done={count}+session(s)+revoked.", 303)


def _shown(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "(hidden)" if value.get_secret_value() else "(not set)"
    if isinstance(value, list) and any(isinstance(v, SecretStr) for v in value):
        return f"({len(value)} hidden)"
    return value


async def settings_page(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, SETTINGS)
    effective = request.app.state.settings
    sections = []
    for name in type(effective).model_fields:
        section = getattr(effective, name)
        if isinstance(section, BaseModel):
            values = [(key, _shown(getattr(section, key))) for key in type(section).model_fields]
            sections.append((name, values))
    return console.page(request, "settings.html", viewer, sections=sections)


async def account(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACCOUNT)
    enrolled = await console.core.totp.is_enrolled(viewer.user)
    return console.page(request, "account.html", viewer, enrolled=enrolled)


async def new_recovery_codes(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, FACTORS)
    await console.form(request, viewer)
    codes = await console.core.totp.new_recovery_codes(viewer.user)
    return console.page(request, "codes.html", viewer, codes=codes, next="/account", for_user=None)
