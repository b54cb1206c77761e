"""One poller among hub replicas: a lease in the store, and the feeds' cursors beside it.

Two hub replicas on one database must not both raise an agent's alert. Each round, a replica
that wants to poll asks :meth:`PollLease.acquire`: it gets the shared poller state if it holds
the lease (or the lease was free and it took it), else ``None`` and it skips the round's polling.
After polling it hands the new state back with :meth:`PollLease.keep`, which renews the lease
and stores the state, each in one atomic step (``renew`` succeeds for the lease's holder only).
The lease is an entry of the pending store that expires if its holder stops renewing it (a
replica that died, or a round that ran far too long); the cursors are a second entry, kept for a
week, so a replica taking over continues where the last one stopped: no alert is repeated, none
skipped, and a host already reported down is not reported down again.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from hostwarden.core.alerts import Alert
from hostwarden.core.clock import Clock
from hostwarden.fleet.poller import AgentFeed, FeedPoller
from hostwarden.storage.pending import Pending, PendingStore

KIND = "fleet.poll"
LEASE, CURSORS = "lease", "cursors"
CURSOR_OWNER = "hub"  # any lease holder writes the cursors
CURSOR_DAYS = 7


def replica_name() -> str:
    """This process, as a lease owner: host name and process ID."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}"


class PollLease:
    """Decides which replica polls the agents this round, and carries the poller's state."""

    def __init__(self, pending: PendingStore, clock: Clock, owner: str, seconds: float) -> None:
        self._pending = pending
        self._clock = clock
        self.owner = owner
        self._seconds = seconds

    async def acquire(self) -> dict[str, Any] | None:
        """The shared poller state if this replica polls this round, else ``None``."""
        now = self._clock.now()
        held = await self._pending.peek(KIND, LEASE, now)
        if held is None:
            entry = Pending(KIND, LEASE, self.owner, "", now + timedelta(seconds=self._seconds))
            if not await self._pending.create(entry, now):
                return None  # another replica took it first
        elif held.owner != self.owner:
            return None
        cursors = await self._pending.peek(KIND, CURSORS, now)
        return _state(cursors.payload) if cursors is not None else {}

    async def keep(self, state: dict[str, Any]) -> bool:
        """Store ``state`` and renew the lease; ``False`` (nothing stored) if it was lost."""
        now = self._clock.now()
        lease = Pending(KIND, LEASE, self.owner, "", now + timedelta(seconds=self._seconds))
        if not await self._pending.renew(lease, now):
            return False
        payload = json.dumps(state, separators=(",", ":"))
        cursors = Pending(KIND, CURSORS, CURSOR_OWNER, payload, now + timedelta(days=CURSOR_DAYS))
        return await self._pending.renew(cursors, now) or await self._pending.create(cursors, now)


async def poll_with_lease(
    poller: FeedPoller, lease: PollLease | None, agents: Iterable[AgentFeed]
) -> list[Alert] | None:
    """Poll ``agents`` if this replica holds (or takes) the lease; ``None`` if another does."""
    if lease is None:
        return await poller.poll_all(agents)
    state = await lease.acquire()
    if state is None:
        return None
    poller.restore(state)
    raised = await poller.poll_all(agents)
    await lease.keep(poller.export())
    return raised


def _state(payload: str) -> dict[str, Any]:
    try:
        found = json.loads(payload)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
