"""The one gate: an outer middleware on ``dp.update`` that asks the core's guard about every update.

It runs after aiogram's own context middlewares (so it knows the user, chat and FSM state) and
before any router. It reads the update once (:func:`~hostwarden.bot.reading.read_update`), asks
the guard about that reading's action, and hands the reading to the routers, which dispatch on
it alone: no handler sees an update the guard did not allow, for an action it did not allow.
It fails closed: if the reading or the guard fails, the update is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import Chat, TelegramObject, Update, User

from hostwarden.bot.challenge import ask_for_code
from hostwarden.bot.claim import WELCOME, has_admin, make_admin
from hostwarden.bot.hostpick import chosen_host, title
from hostwarden.bot.reading import (
    HOST_ROUTES,
    IGNORED,
    Reading,
    ReadingContext,
    needs_state,
    press_nonce,
    read_update,
)
from hostwarden.bot.safe_send import answer_callback, send_text
from hostwarden.bot.services import BotServices
from hostwarden.core.guard import DENIED, Decision, Verdict
from hostwarden.core.identity import Actor
from hostwarden.metrics import Metrics, timer

LOG = logging.getLogger("hostwarden.bot")
CLAIM_ROUTE = "/claim"
NO_SUCH_HOST = "⚠️ no such host"
# Views that show which host the chat is on (the picker's mark), without acting on one.
SHOWS_CHOICE = frozenset({"/start", "/help", "/menu", "view:menu", "/hosts", "view:hosts"})

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def actor_of(user: User | None) -> Actor:
    """The core's view of a Telegram user; an update without one is an anonymous actor."""
    if user is None:
        return Actor()
    return Actor(telegram_id=user.id, username=user.username, display_name=user.full_name)


class AccessGate(BaseMiddleware):
    """Decides every update through ``services.core.guard``; nothing else decides access."""

    def __init__(self, services: BotServices, metrics: Metrics | None = None) -> None:
        self._services = services
        self._groups = frozenset(services.telegram.group_chat_ids)
        self._metrics = metrics

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):  # registered on dp.update; anything else is a bug
            return None
        actor = actor_of(data.get("event_from_user"))
        try:
            reading = await self._read(event, data)
            if reading.route == IGNORED:  # group chatter not addressed to us asks for nothing
                return None
            if reading.route == CLAIM_ROUTE and await self._claimed(actor, reading, data):
                return None
            started = timer()
            decision = await self._services.core.guard.decide(actor, reading.action, reading.host)
            if self._metrics is not None:
                self._metrics.decided("bot", decision.verdict, timer() - started)
        except Exception:  # fail closed: no decision, no access
            if self._services.core.health.available:
                LOG.exception("access check failed; update dropped")
            else:  # the store health already said why, once per outage: no trace per update
                LOG.debug("update dropped: the store is unavailable")
            return None
        if decision.verdict is Verdict.ALLOW:
            data["hw_actor"] = actor
            data["hw_user"] = decision.user
            data["hw_reading"] = reading
            if reading.route in SHOWS_CHOICE:
                await self._chosen(data)
            return await handler(event, data)
        try:
            await self._refuse(event, data, decision, reading)
        except Exception:  # a refusal that cannot be sent is still a refusal
            LOG.exception("refusal could not be sent")
        return None

    async def _claimed(self, actor: Actor, reading: Reading, data: dict[str, Any]) -> bool:
        """A right first-run code is the credential (like a password): it makes the sender the
        admin before the guard counts the message, which could block the owner. Anything else
        goes on to the guard, where a stranger's wrong code counts as an attempt."""
        services = self._services
        if services.claim is None or actor.telegram_id is None or not reading.private:
            return False
        if await has_admin(services.core):  # an admin was made meanwhile: the claim is over
            services.claim = None
            return False
        if not reading.args or not services.claim.take(reading.args[0], services.clock.now()):
            return False
        services.claim = None
        await make_admin(services.core, actor.telegram_id)
        chat: Chat | None = data.get("event_chat")
        if chat is not None:
            await send_text(data["bot"], chat.id, WELCOME)
        return True

    async def _read(self, event: Update, data: dict[str, Any]) -> Reading:
        bot: Bot = data["bot"]
        me = await bot.me()  # aiogram keeps it after the first call
        nonce = press_nonce(event)  # the pending confirmation lives in the store: fetch it first
        live = await self._services.confirmations.peek(nonce) if nonce is not None else None
        context = ReadingContext(
            bot_username=me.username or "",
            group_chat_ids=self._groups,
            state=await self._state(event, data),
            pending=lambda asked: live if asked == nonce else None,
        )
        reading = read_update(event, context)
        if reading.route in HOST_ROUTES and reading.host is None:  # no host named: the chat's
            chosen = await self._chosen(data)
            default = self._services.hosts().default
            reading = read_update(event, replace(context, chosen_host=chosen, default_host=default))
        return reading

    @staticmethod
    async def _state(event: Update, data: dict[str, Any]) -> str | None:
        """The chat's FSM state, read from the store only when the reading may need it."""
        state: FSMContext | None = data.get("state")
        return await state.get_state() if state is not None and needs_state(event) else None

    async def _chosen(self, data: dict[str, Any]) -> str | None:
        """The host picked in this chat, while the fleet still has it (kept in ``data``)."""
        if "hw_chosen_host" not in data:
            names = self._services.hosts().names()
            # One host: nothing to choose, so no store read (a stranger's flood must not cost one).
            chosen = await chosen_host(data.get("state")) if len(names) > 1 else None
            data["hw_chosen_host"] = chosen if chosen in names else None
        found: str | None = data["hw_chosen_host"]
        return found

    def _named(self, reading: Reading) -> str:
        """The host a 2FA prompt names: the reading's, when the fleet has more than one, by the
        name its question and result call it (:func:`~hostwarden.bot.hostpick.title`)."""
        fleet = self._services.hosts()
        if reading.host is None or len(fleet.names()) < 2 or reading.host not in fleet.names():
            return ""
        return title(self._services, fleet.get(reading.host))

    async def _refuse(
        self, event: Update, data: dict[str, Any], decision: Decision, reading: Reading
    ) -> None:
        bot: Bot = data["bot"]
        chat: Chat | None = data.get("event_chat")
        if decision.verdict is Verdict.ASK_TOTP:
            state: FSMContext | None = data.get("state")
            if state is not None and chat is not None and reading.private:
                if reading.host is not None and reading.host not in self._services.hosts().names():
                    await send_text(bot, chat.id, NO_SUCH_HOST)  # no code asked for nothing
                    return
                await ask_for_code(self._services, bot, state, event, chat.id, self._named(reading))
            return
        if decision.verdict is Verdict.DENY:
            if event.callback_query is not None:
                await answer_callback(bot, event.callback_query.id, decision.reply or DENIED)
            elif event.message is not None and chat is not None and reading.private:
                await send_text(bot, chat.id, decision.reply or DENIED)
            return
        # DROP: silence. A button press is answered with no text, only so that the client's
        # spinner stops: it tells a stranger nothing, not even whether they are blocked.
        if event.callback_query is not None:
            await answer_callback(bot, event.callback_query.id)
