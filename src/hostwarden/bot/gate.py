"""The one gate: an outer middleware on ``dp.update`` that asks the core's guard about every update.

It runs after aiogram's own context middlewares (so it knows the user, chat and FSM state) and
before any router, so no handler sees an update the guard did not allow. It fails closed: if the
guard itself fails, the update is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import Chat, TelegramObject, Update, User

from hostwarden.bot.actions import action_for
from hostwarden.bot.challenge import CODE_STATES, ask_for_code
from hostwarden.bot.safe_send import answer_callback, send_text
from hostwarden.bot.services import BotServices
from hostwarden.core.guard import DENIED, Decision, Verdict
from hostwarden.core.identity import Actor

LOG = logging.getLogger("hostwarden.bot")

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def actor_of(user: User | None) -> Actor:
    """The core's view of a Telegram user; an update without one is an anonymous actor."""
    if user is None:
        return Actor()
    return Actor(telegram_id=user.id, username=user.username, display_name=user.full_name)


class AccessGate(BaseMiddleware):
    """Decides every update through ``services.core.guard``; nothing else decides access."""

    def __init__(self, services: BotServices) -> None:
        self._services = services

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):  # registered on dp.update; anything else is a bug
            return None
        actor = actor_of(data.get("event_from_user"))
        raw_state = data.get("raw_state")
        action = action_for(event, raw_state in CODE_STATES, self._services.confirmations.action_of)
        try:
            decision = await self._services.core.guard.decide(actor, action)
        except Exception:  # fail closed: no decision, no access
            LOG.exception("access check failed; update dropped")
            return None
        if decision.verdict is Verdict.ALLOW:
            data["hw_actor"] = actor
            data["hw_user"] = decision.user
            data["hw_action"] = action
            return await handler(event, data)
        await self._refuse(event, data, decision)
        return None

    async def _refuse(self, event: Update, data: dict[str, Any], decision: Decision) -> None:
        bot: Bot = data["bot"]
        chat: Chat | None = data.get("event_chat")
        if decision.verdict is Verdict.ASK_TOTP:
            state: FSMContext | None = data.get("state")
            if state is not None and chat is not None:
                await ask_for_code(self._services, bot, state, event, chat.id)
            return
        if decision.verdict is Verdict.DENY:
            if event.callback_query is not None:
                await answer_callback(bot, event.callback_query.id, decision.reply or DENIED)
            elif event.message is not None and chat is not None:
                await send_text(bot, chat.id, decision.reply or DENIED)
            return
        # DROP: unknown users get silence; a blocked user's button press gets a short answer,
        # because Telegram shows a spinner until a callback query is answered.
        if event.callback_query is not None and decision.reason.startswith("blocked"):
            await answer_callback(bot, event.callback_query.id, DENIED)
