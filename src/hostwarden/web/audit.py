"""The audit log: filters, keyset pages, readable labels, and the CSV and JSON-lines exports.

The page hides the viewer's own ``access.granted`` events (every admin page view makes one)
unless the filter asks for them (``mine=1``, or the kind ``access.granted`` itself). Exports
keep every event and mask identities as the logs do.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hostwarden.core.audit import ALL_KINDS, Kind, masked_ref
from hostwarden.storage.base import AuditEvent, AuditQuery
from hostwarden.web.console import Console
from hostwarden.web.labels import kind_choices
from hostwarden.web.viewer import Viewer

ACTION = "admin.audit"
PAGE = 50
#: At most this many store calls (of :data:`PAGE` events each, the query of an unfiltered page)
#: fill one page while skipping the viewer's own routine events; past them the page shows fewer
#: rows, with a link to older events.
MAX_BATCHES = 40
EXPORT_MAX = 100_000


class AuditFilter(BaseModel):
    """The filter form's values, as strings (empty: not filtered)."""

    since: str = ""
    until: str = ""
    kind: str = ""
    actor: str = ""
    mine: str = ""

    def query(self, before: int | None, limit: int) -> AuditQuery:
        return AuditQuery(
            since=_when(self.since), until=_when(self.until), kind=self.kind or None,
            actor=self.actor or None, before_id=before, limit=limit,
        )  # fmt: skip

    def params(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}

    def hides_own(self) -> bool:
        """Whether the viewer's own ``access.granted`` events are left out."""
        return not self.mine and self.kind != Kind.ACCESS_GRANTED


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None
    except ValueError:
        return None


def read_filter(request: Request) -> tuple[AuditFilter, int | None]:
    """The filter and the keyset position (``before``) from the query string."""
    q = request.query_params
    kind = q.get("kind", "")
    flt = AuditFilter(
        since=q.get("since", "")[:30], until=q.get("until", "")[:30],
        kind=kind if kind in ALL_KINDS else "", actor=q.get("actor", "")[:300],
        mine="1" if q.get("mine") == "1" else "",
    )  # fmt: skip
    before = q.get("before", "")
    return flt, int(before) if before.isascii() and before.isdigit() and len(before) < 19 else None


async def page_of_events(
    console: Console, flt: AuditFilter, before: int | None, viewer: Viewer
) -> tuple[list[AuditEvent], int | None]:
    """Up to :data:`PAGE` events and the ``before`` of the next page (``None``: no more)."""
    if not flt.hides_own():
        events = await console.core.audit.query(flt.query(before, PAGE))
        return events, (events[-1].id if len(events) == PAGE else None)
    shown: list[AuditEvent] = []
    for _ in range(MAX_BATCHES):
        batch = await console.core.audit.query(flt.query(before, PAGE))
        for event in batch:
            if event.kind == Kind.ACCESS_GRANTED and event.actor == viewer.ref:
                continue
            shown.append(event)
            if len(shown) == PAGE:
                return shown, event.id
        if len(batch) < PAGE:
            return shown, None
        before = batch[-1].id
    return shown, before  # many of the viewer's own events in a row: the next page goes on


async def audit(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACTION)
    flt, before = read_filter(request)
    events, next_before = await page_of_events(console, flt, before, viewer)
    params = flt.params()
    export = {k: v for k, v in params.items() if k != "mine"}
    return console.page(
        request, "audit.html", viewer, events=events, f=flt, kinds=kind_choices(),
        query=urlencode(export), next_before=next_before,
        next_query=urlencode({**params, "before": next_before}),
        reveal=await console.identities.reveal(viewer, request.url.path),
        hidden_own=flt.hides_own(),
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
    await console.require(request, ACTION)
    flt, _ = read_filter(request)
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
