"""``audit tail --follow``: new audit events as they are written, until Ctrl-C."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hostwarden.core.service import AccessCore
    from hostwarden.storage.base import AuditEvent

#: Events read per query while catching up.
PAGE = 500


async def newer_events(core: AccessCore, after_id: int, kind: str | None) -> list[AuditEvent]:
    """Every event with an id above ``after_id`` (of ``kind``, if given), oldest first."""
    from hostwarden.storage.base import AuditQuery

    found: list[AuditEvent] = []
    before: int | None = None
    while True:
        page = await core.audit.query(AuditQuery(kind=kind, before_id=before, limit=PAGE))
        fresh = [event for event in page if event.id > after_id]
        found.extend(fresh)
        if len(fresh) < PAGE:
            return sorted(found, key=lambda event: event.id)
        before = min(event.id for event in fresh)


async def follow(
    core: AccessCore,
    after_id: int,
    kind: str | None,
    emit: Callable[[AuditEvent], None],
    sleep: Callable[[float], Awaitable[None]],
    interval: float,
) -> None:
    """Emit each event newer than ``after_id``, polling every ``interval`` seconds, forever.

    ``sleep`` is injected so that tests drive the polls; the caller stops it (Ctrl-C).
    """
    last = after_id
    while True:
        for event in await newer_events(core, last, kind):
            emit(event)
            last = event.id
        await sleep(interval)
