"""What hostwarden itself asked the engine to do, so the event follower does not alert on it.

:class:`~hostwarden.containers.engine.ContainerEngine` notes each start, stop and restart here,
by container ID, before it acts. Each action expects its events, in order: a stop one ``die``
(``kill`` and ``stop`` events before and around it are explained by it), a start one ``start``,
a restart both. The follower consumes them as the events come, so actions made in quick
succession (stop, start, restart) each explain their own events even when the events arrive
after the next action was asked. An expectation lapses after :data:`EXPECT_SECONDS`, so one left
by an action whose events never came cannot hide a later failure for long. The engine calls
happen in worker threads, hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

EXPECT_SECONDS = 600.0
LATE_DIE_SECONDS = 30.0
_STEPS = {"start": ("start",), "stop": ("stop",), "restart": ("stop", "start")}


@dataclass(frozen=True, eq=False, slots=True)
class Expected:
    """One awaited event: ``stop`` (a die) or ``start``."""

    step: str
    until: float


class ExpectedActions:
    """A small in-process registry of ``(container, step, deadline)``, in the order asked."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._by_id: dict[str, deque[Expected]] = {}

    def expect(self, verb: str, container_id: str) -> tuple[Expected, ...]:
        """Note that hostwarden is about to ``verb`` (start, stop, restart) the container."""
        until = self._monotonic() + EXPECT_SECONDS
        entries = tuple(Expected(step, until) for step in _STEPS[verb])
        with self._lock:
            self._prune()
            self._by_id.setdefault(container_id, deque()).extend(entries)
        return entries

    def discard(self, container_id: str, entries: tuple[Expected, ...]) -> None:
        """Forget ``entries`` (the action failed: no events of ours will come)."""
        with self._lock:
            queue = self._by_id.get(container_id, deque())
            for entry in entries:
                if entry in queue:
                    queue.remove(entry)
            self._drop_if_empty(container_id)

    def explains_stop(self, container_id: str) -> bool:
        """Whether a stop of ours is under way (for ``kill``, ``stop`` and ``restart`` events)."""
        with self._lock:
            return self._next_stop(container_id) is not None

    def take_die(self, container_id: str) -> bool:
        """On a ``die``: whether a stop of ours explains it (that stop is then used up)."""
        with self._lock:
            entry = self._next_stop(container_id)
            if entry is None:
                return False
            self._by_id[container_id].remove(entry)
            self._drop_if_empty(container_id)
            return True

    def take_start(self, container_id: str) -> bool:
        """On a ``start``: whether hostwarden started it (that start is then used up).

        A stop before it whose ``die`` has not come is kept :data:`LATE_DIE_SECONDS` more:
        podman writes ``die`` from its cleanup process, which may come after the next start.
        """
        with self._lock:
            queue = self._live(container_id)
            ours = next((e for e in queue if e.step == "start"), None)
            if ours is None:
                return False
            late = self._monotonic() + LATE_DIE_SECONDS
            for index, entry in enumerate(queue):
                if entry is ours:
                    del queue[index]
                    break
                queue[index] = replace(entry, until=min(entry.until, late))
            self._drop_if_empty(container_id)
            return True

    def __len__(self) -> int:
        with self._lock:
            self._prune()
            return sum(len(q) for q in self._by_id.values())

    def _live(self, container_id: str) -> deque[Expected]:
        now = self._monotonic()
        queue = self._by_id.get(container_id, deque())
        while queue and queue[0].until <= now:
            queue.popleft()
        return queue

    def _next_stop(self, container_id: str) -> Expected | None:
        # Only a stop before our next start: one after it is for later events.
        queue = self._live(container_id)
        return queue[0] if queue and queue[0].step == "stop" else None

    def _drop_if_empty(self, container_id: str) -> None:
        if container_id in self._by_id and not self._by_id[container_id]:
            del self._by_id[container_id]

    def _prune(self) -> None:
        for container_id in list(self._by_id):
            self._live(container_id)
            self._drop_if_empty(container_id)
