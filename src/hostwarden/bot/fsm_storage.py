"""aiogram's FSM storage over hostwarden's store, so any hub replica sees a chat's state.

Which chat owes a code, and the data that goes with it, lives in the ``conversations`` table with
the SQL store: a restart or another replica on the same database continues the conversation.
Each write renews a deadline (``ttl_seconds`` by the injected clock); a forgotten state simply
runs out. Records of a ``lasting`` destiny (the host picked in a chat) are not a conversation but
a setting: they are kept :data:`LASTING_SECONDS` after their last write, and a read in the second
half of that writes them again, so they never run out while the chat is in use.

:class:`LazyFsm` replaces aiogram's FSM middleware, which reads the state for every update: here
the gate reads it only for the updates whose reading depends on it (a store call saved on every
command, press and stranger's flood).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from aiogram.types import TelegramObject

from hostwarden.core.clock import Clock
from hostwarden.storage.pending import KEY_LENGTH, ConversationStore

LOG = logging.getLogger("hostwarden.bot")
TTL_SECONDS = 7200  # twice the longest code prompt or enrolment: their "expired" reply is seen
LASTING_SECONDS = 400 * 24 * 3600  # a lasting record of a chat that stopped using the bot
WRITTEN = "hw_written"  # when a lasting record was written (kept in its data, never handed out)


def conversation_key(key: StorageKey) -> str:
    """One string per aiogram key: bot, chat, thread, user, business connection, destiny."""
    parts = [
        key.bot_id,
        key.chat_id,
        key.thread_id or "",
        key.user_id,
        key.business_connection_id or "",
        key.destiny,
    ]
    return ":".join(str(part) for part in parts)[:KEY_LENGTH]


class StoreStorage(BaseStorage):
    """A :class:`~aiogram.fsm.storage.base.BaseStorage` writing to a :class:`ConversationStore`."""

    def __init__(
        self,
        conversations: ConversationStore,
        clock: Clock,
        ttl_seconds: int = TTL_SECONDS,
        lasting: Collection[str] = (),
    ) -> None:
        self._conversations = conversations
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)
        self._lasting = frozenset(lasting)

    def _deadline(self, key: StorageKey, now: datetime) -> datetime:
        lasting = key.destiny in self._lasting
        return now + (timedelta(seconds=LASTING_SECONDS) if lasting else self._ttl)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        """Set (or, with ``None``, clear) the chat's state; its data stays."""
        name = state.state if isinstance(state, State) else state
        now = self._clock.now()
        await self._conversations.set_state(
            conversation_key(key), name, now, self._deadline(key, now)
        )

    async def get_state(self, key: StorageKey) -> str | None:
        """The chat's live state, if any.

        aiogram asks for it before the gate sees the update. When the store cannot answer, this
        says ``None`` (one debug line naming only the error's type: a database error's text can
        hold the key's IDs), and the gate fails closed on its own store call, which the store's
        health reports once per outage, instead of a traceback per update.
        """
        try:
            found = await self._conversations.get(conversation_key(key), self._clock.now())
        except Exception as exc:  # any store failure: the gate still decides, and refuses
            LOG.debug("conversation state unreadable: %s", type(exc).__name__)
            return None
        return found.state if found is not None else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Replace the chat's data (JSON-serialisable values only)."""
        now = self._clock.now()
        values = {name: value for name, value in data.items() if name != WRITTEN}
        if values and key.destiny in self._lasting:
            values[WRITTEN] = now.isoformat()
        text = json.dumps(values, separators=(",", ":"), sort_keys=True)
        await self._conversations.set_data(
            conversation_key(key), text, now, self._deadline(key, now)
        )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """The chat's live data (empty if none); a lasting record past half its life is renewed."""
        now = self._clock.now()
        found = await self._conversations.get(conversation_key(key), now)
        if found is None:
            return {}
        data = json.loads(found.data)
        if not isinstance(data, dict):
            return {}
        written = data.pop(WRITTEN, None)
        if data and key.destiny in self._lasting and _renew_due(written, now):
            await self.set_data(key, data)
        return data

    async def close(self) -> None:
        """Nothing to close: the store belongs to the core."""
        return None


def _renew_due(written: object, now: datetime) -> bool:
    """Whether a lasting record written at ``written`` (ISO text) is past half its life."""
    try:
        at = datetime.fromisoformat(written) if isinstance(written, str) else None
    except ValueError:
        at = None
    return at is None or now - at >= timedelta(seconds=LASTING_SECONDS // 2)


class LazyFsm(FSMContextMiddleware):
    """aiogram's FSM middleware without its read: handlers get ``state`` (an ``FSMContext``) and
    read or write it when they need to; no ``raw_state`` is put in the data."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        bot: Bot = data["bot"]
        context = self.resolve_event_context(bot, data)
        data["fsm_storage"] = self.storage
        if context is not None:
            data["state"] = context
        return await handler(event, data)
