"""The agent's alerts, kept for the hub: a bounded ring with a cursor, and its wire models.

The agent's host monitor and container event follower raise their alerts into an
:class:`AlertRing` (it is their alert sink); the hub polls ``GET /v1/events?after=N&boot=B``.
``boot`` names one run of the agent: a hub holding another run's cursor starts from the ring's
beginning. Alerts that fell out of the ring before the hub read them are counted as ``missed``.
"""

from __future__ import annotations

import re
import secrets
from collections import deque
from datetime import datetime
from functools import partial
from typing import Annotated

from pydantic import BeforeValidator, Field

from hostwarden.core.alerts import Alert
from hostwarden.fleet.wire import Count, Line, Wire, clean_line

#: Alerts an agent keeps for the hub.
RING_SIZE = 1000
#: Alerts per page of the feed.
PAGE = 100

_KIND = re.compile(r"[a-z][a-z0-9_.-]{0,31}")

Kind = Annotated[
    str, BeforeValidator(partial(clean_line, limit=32)), Field(pattern=f"^{_KIND.pattern}$")
]
Detail = Annotated[str, BeforeValidator(partial(clean_line, limit=1000))]
Boot = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Event(Wire):
    """One alert on the wire: plain text only (the hub escapes it wherever it shows it)."""

    seq: Annotated[int, Field(ge=1, le=2**62)]
    kind: Kind
    title: Line
    detail: Detail = ""
    at: datetime


class Page(Wire):
    """One answer of the feed: alerts after the cursor, oldest first."""

    boot: Boot
    latest: Count
    missed: Count = 0
    events: tuple[Event, ...] = Field(max_length=PAGE)


class AlertRing:
    """The last ``size`` alerts, numbered from 1; an alert sink for the monitor and follower."""

    def __init__(self, size: int = RING_SIZE, boot: str | None = None) -> None:
        self._ring: deque[Event] = deque(maxlen=size)
        self.boot = boot or secrets.token_urlsafe(12)
        self.latest = 0

    async def raise_alert(self, alert: Alert) -> None:
        """Keep ``alert`` (the oldest one goes when the ring is full)."""
        self.latest += 1
        kind = alert.kind if _KIND.fullmatch(alert.kind) else "agent"
        self._ring.append(
            Event.model_validate(
                {
                    "seq": self.latest,
                    "kind": kind,
                    "title": alert.title,
                    "detail": alert.detail,
                    "at": alert.at,
                },
                strict=False,
            )
        )

    def page(self, after: int, boot: str | None = None, limit: int = PAGE) -> Page:
        """Alerts after ``after`` (all if ``boot`` is another run's), at most ``limit``."""
        if boot != self.boot or after > self.latest:
            after = 0
        after = max(after, 0)
        oldest = self._ring[0].seq if self._ring else self.latest + 1
        missed = max(oldest - after - 1, 0)
        events = [event for event in self._ring if event.seq > after][: max(1, min(limit, PAGE))]
        return Page(boot=self.boot, latest=self.latest, missed=missed, events=tuple(events))
