"""The outbox's per-recipient rules, shared by every backend.

Backends call these while they hold the message exclusively (a dict on one event loop, a row
lock or SQLite's write lock), so each claim or settlement is one atomic step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from hostwarden.storage.base import Delivery, Outcome


def claimed(
    current: Delivery | None, recipient: str, now: datetime, retry_at: datetime
) -> Delivery | None:
    """The delivery after a claim at ``now``; ``None`` when it may not be claimed."""
    if current is None:
        return Delivery(recipient, 1, retry_at)
    if not current.ready(now):
        return None
    return dataclasses.replace(current, attempts=current.attempts + 1, next_attempt_at=retry_at)


def settled(
    current: Delivery | None, recipient: str, outcome: Outcome, now: datetime
) -> Delivery | None:
    """The delivery once ``outcome`` is recorded; ``None`` when nothing changes.

    A failure changes nothing (the claim already set the retry time); a delivery already
    delivered or given up stays as it is.
    """
    if outcome is Outcome.FAILED or (current is not None and current.settled):
        return None
    base = current or Delivery(recipient, 0, now)
    if outcome is Outcome.DELIVERED:
        return dataclasses.replace(base, delivered_at=now)
    return dataclasses.replace(base, gave_up_at=now)


def next_look(
    deliveries: Mapping[str, Delivery], recipients: Sequence[str], now: datetime
) -> datetime | None:
    """When a message is next due for ``recipients``; ``None`` once all of them are settled.

    A recipient never tried is due ``now``. An empty ``recipients`` never finishes a message.
    """
    if not recipients:
        return now
    times: list[datetime] = []
    for name in recipients:
        delivery = deliveries.get(name)
        if delivery is None:
            times.append(now)
        elif not delivery.settled:
            times.append(delivery.next_attempt_at)
    return min(times, default=None)
