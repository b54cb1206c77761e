"""Messages that must disappear later (QR codes, secrets, recovery codes), by the injected clock.

A background loop calls :meth:`DeferredDeletes.flush`; tests advance a manual clock and call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram import Bot

from hostwarden.bot.safe_send import delete_message
from hostwarden.core.clock import Clock


@dataclass(frozen=True, slots=True)
class _Deletion:
    due: datetime
    chat_id: int
    message_id: int


class DeferredDeletes:
    """A list of messages to delete once their time has come."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._queue: list[_Deletion] = []

    def schedule(self, chat_id: int, message_id: int, after_seconds: int) -> None:
        due = self._clock.now() + timedelta(seconds=after_seconds)
        self._queue.append(_Deletion(due, chat_id, message_id))

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def flush(self, bot: Bot) -> int:
        """Delete every message that is due; returns how many were deleted or already gone."""
        now = self._clock.now()
        due = [d for d in self._queue if d.due <= now]
        self._queue = [d for d in self._queue if d.due > now]
        for deletion in due:
            await delete_message(bot, deletion.chat_id, deletion.message_id)
        return len(due)
