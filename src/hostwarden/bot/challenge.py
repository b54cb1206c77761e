"""The 2FA prompt: park the update that needs a code, ask for the code, then replay the update.

The parked update and its deadline live in the FSM storage. Only a valid code, /cancel, a
new prompt or the deadline (by the injected clock) ends a challenge; no periodic cleanup does.
"""

from __future__ import annotations

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


def prompt(seconds: int) -> str:
    minutes = max(seconds // 60, 1)
    return (
        "🔐 This action needs your 2FA code. Send the 6-digit code from your authenticator app "
        f"within {minutes} min, or /cancel."
    )


async def ask_for_code(
    services: BotServices, bot: Bot, state: FSMContext, update: Update, chat_id: int
) -> None:
    """Park ``update`` and ask for a code; a valid code replays it."""
    seconds = services.telegram.challenge_seconds
    deadline = services.clock.now() + timedelta(seconds=seconds)
    try:
        parked: dict[str, Any] | None = update.model_dump(mode="json", exclude_none=True)
    except ValueError:  # aiogram placeholders it cannot serialise: ask for the code anyway
        LOG.info("update could not be parked; the user repeats the command after the code")
        parked = None
    await state.set_state(TwoFactor.awaiting_code)
    await state.set_data({"pending": parked, "deadline": deadline.isoformat()})
    if update.callback_query is not None:
        await answer_callback(bot, update.callback_query.id, "2FA code needed")
    await send_text(bot, chat_id, prompt(seconds))


async def expired(services: BotServices, state: FSMContext) -> bool:
    """Whether the current challenge's deadline has passed (then it is cleared)."""
    data: dict[str, Any] = await state.get_data()
    deadline = data.get("deadline")
    if deadline is not None and services.clock.now() < datetime.fromisoformat(deadline):
        return False
    await state.clear()
    return True


async def take_parked(state: FSMContext, bot: Bot) -> Update | None:
    """End the challenge and return the parked update, ready to feed again."""
    data: dict[str, Any] = await state.get_data()
    await state.clear()
    pending = data.get("pending")
    if pending is None:
        return None
    return Update.model_validate(pending, context={"bot": bot})
