"""The 2FA prompt: park the update that needs a code, ask for the code, then replay the update.

The prompt's state and deadline live in the FSM storage, the parked update (encrypted) in the
store's pending entries (:mod:`hostwarden.bot.parking`); both are in the store, so a code sent
to another hub replica, or after a restart, still replays the update, once. Only a valid code,
/cancel, a new prompt or the deadline (by the injected clock) ends a challenge; no periodic
cleanup does before the deadline.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Update

from hostwarden.bot.safe_send import answer_callback, send_text

if TYPE_CHECKING:
    from hostwarden.bot.services import BotServices

LOG = logging.getLogger("hostwarden.bot")


class TwoFactor(StatesGroup):
    """A user owes the bot a code: to run a parked action, or to confirm an enrolment."""

    awaiting_code = State()
    confirming_enrolment = State()


CODE_STATES = frozenset({TwoFactor.awaiting_code.state, TwoFactor.confirming_enrolment.state})


def prompt(seconds: int, host: str = "") -> str:
    """The code prompt; ``host`` names the fleet host the action is on (none: not said)."""
    minutes = max(seconds // 60, 1)
    on = f" on host <b>{html.escape(host)}</b>" if host else ""
    return (
        f"🔐 This action{on} needs your 2FA code. Send the 6-digit code from your authenticator "
        f"app within {minutes} min, or /cancel."
    )


async def ask_for_code(
    services: BotServices,
    bot: Bot,
    state: FSMContext,
    update: Update,
    chat_id: int,
    host: str = "",
) -> None:
    """Park ``update`` and ask for a code (naming ``host``, if given); a valid code replays it."""
    seconds = services.telegram.challenge_seconds
    deadline = services.clock.now() + timedelta(seconds=seconds)
    parked: str | None = None
    try:
        dumped = update.model_dump(mode="json", exclude_none=True)
    except ValueError:  # aiogram placeholders it cannot serialise: ask for the code anyway
        LOG.info("update could not be parked; the user repeats the command after the code")
    else:
        parked = await services.parking.park(_user_id(state), dumped, deadline)
    await state.set_state(TwoFactor.awaiting_code)
    await state.set_data({"parked": parked, "deadline": deadline.isoformat()})
    if update.callback_query is not None:
        await answer_callback(bot, update.callback_query.id, "2FA code needed")
    await send_text(bot, chat_id, prompt(seconds, host))


async def expired(services: BotServices, state: FSMContext) -> bool:
    """Whether the current challenge's deadline has passed (then it is cleared)."""
    data: dict[str, Any] = await state.get_data()
    deadline = data.get("deadline")
    if deadline is not None and services.clock.now() < datetime.fromisoformat(deadline):
        return False
    await state.clear()
    return True


async def take_parked(services: BotServices, state: FSMContext, bot: Bot) -> Update | None:
    """End the challenge and return the parked update, ready to feed again.

    Of two replicas taking it at once, one gets the update; the other gets ``None``.
    """
    data: dict[str, Any] = await state.get_data()
    await state.clear()
    nonce = data.get("parked")
    if not isinstance(nonce, str):
        return None
    parked = await services.parking.take(_user_id(state), nonce)
    if parked is None:
        return None
    return Update.model_validate(parked, context={"bot": bot})


def _user_id(state: FSMContext) -> int:
    return state.key.user_id
