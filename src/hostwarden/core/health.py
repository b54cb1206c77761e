"""Store health: one log line when the store is lost, one when it is back, and a direct alert.

A store that disappears under a running process (an SQLite file deleted or made read-only, a
PostgreSQL server stopped) makes every store call fail, and the front ends fail closed on any
error. :class:`StoreHealth` turns the flood of failures into one clear log line per outage, and
tells its subscribers (e.g. :class:`StoreLossAlerts`) once when the store is lost and once when
it is back. The alerts cannot use the outbox, which lives in the lost store: they go straight to
the senders given.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable, Sequence

from hostwarden.core.clock import Clock

LOG = logging.getLogger("hostwarden.store")

Listener = Callable[[str | None], object]
"""Called with the reason when the store is lost, with ``None`` when it is back."""

Send = Callable[[str], Awaitable[object]]


class StoreHealth:
    """Whether the store answers; stores call :meth:`failed` and :meth:`ok`, front ends listen.

    Both calls are cheap when nothing changes, so a store may call them on every operation.
    """

    def __init__(self) -> None:
        self._down: str | None = None
        self._listeners: list[Listener] = []

    @property
    def available(self) -> bool:
        """False from a failure until the next success."""
        return self._down is None

    @property
    def reason(self) -> str | None:
        """Why the store is unavailable, while it is."""
        return self._down

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` at every change (from the event loop of the failing store call)."""
        self._listeners.append(listener)

    def failed(self, reason: str) -> None:
        """The store could not be used; ``reason`` is short and holds no secret.

        Only the first failure of an outage is logged and announced.
        """
        if self._down is not None:
            return
        self._down = reason or "unknown error"
        LOG.error("store unavailable: %s; refusing every request until it is back", self._down)
        self._tell(self._down)

    def ok(self) -> None:
        """A store call succeeded; ends an outage if there was one."""
        if self._down is None:
            return
        self._down = None
        LOG.warning("store is back; serving requests again")
        self._tell(None)

    def _tell(self, reason: str | None) -> None:
        for listener in self._listeners:
            try:
                listener(reason)
            except Exception as exc:  # a broken listener must not hide the store's own error
                LOG.warning("store health listener failed: %s", type(exc).__name__)


class StoreLossAlerts:
    """Sends "store unavailable" and "store is back" to every sender directly, not via the outbox.

    Each sender is tried on its own, so any that still works delivers. Sending runs in the
    background: the failing store call is not held up by a slow chat API.
    """

    def __init__(self, health: StoreHealth, senders: Sequence[Send], clock: Clock) -> None:
        self._senders = list(senders)
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        health.subscribe(self._changed)

    def _changed(self, reason: str | None) -> None:
        task = asyncio.get_running_loop().create_task(self._send(self.render(reason)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def render(self, reason: str | None) -> str:
        """The Telegram-HTML text for a loss (``reason``) or a recovery (``None``)."""
        at = self._clock.now().strftime("%Y-%m-%d %H:%M:%S")
        if reason is None:
            return f"<b>Store is back</b>\nTime: {at} UTC\nRequests are served again."
        return (
            f"<b>Store unavailable</b>\nTime: {at} UTC\n{html.escape(reason)}\n"
            "Every request is refused until the database is back."
        )

    async def _send(self, text: str) -> None:
        for send in self._senders:
            try:
                await send(text)
            except Exception as exc:  # the others may still work
                LOG.warning("direct store alert failed: %s", type(exc).__name__)

    async def drain(self) -> None:
        """Wait for the alerts being sent (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
