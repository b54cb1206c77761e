"""Codes typed in answer to a 2FA prompt, and /enroll2fa (QR as a self-deleting photo)."""

from __future__ import annotations

import html
import logging
from datetime import timedelta

from aiogram import Bot, Router
from aiogram.dispatcher.dispatcher import Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, Message

from hostwarden.bot.challenge import TwoFactor, expired, take_parked
from hostwarden.bot.reading import CODE, ENROL_CODE, Reading, Route
from hostwarden.bot.safe_send import delete_message, send_text
from hostwarden.bot.services import BotServices
from hostwarden.core.identity import Actor, User
from hostwarden.core.qr import qr_png
from hostwarden.core.totp import TotpOutcome
from hostwarden.errors import HostwardenError

LOG = logging.getLogger("hostwarden.bot")
RECOVERY_DELETE_SECONDS = 300

OUTCOME_TEXT = {
    TotpOutcome.INVALID: "❌ Wrong code. Try again, or /cancel.",
    TotpOutcome.REPLAYED: "❌ That code was already used. Wait for the next one.",
    TotpOutcome.BLOCKED: "⛔ Too many wrong codes: 2FA is blocked for a while. The admin was told.",
    TotpOutcome.NOT_ENROLLED: "No second factor is enrolled: use /enroll2fa first.",
}


async def code_for_parked_action(
    message: Message,
    bot: Bot,
    state: FSMContext,
    dispatcher: Dispatcher,
    hw: BotServices,
    hw_actor: Actor,
    hw_reading: Reading,
) -> None:
    # The code must not linger in the chat history.
    await delete_message(bot, message.chat.id, message.message_id)
    if await expired(hw, state):
        await send_text(
            bot, message.chat.id, "⌛ The code request expired; send the command again."
        )
        return
    outcome = await hw.core.guard.submit_totp(hw_actor, hw_reading.target)
    if outcome is TotpOutcome.ACCEPTED:
        parked = await take_parked(hw, state, bot)
        await send_text(bot, message.chat.id, "✅ Code accepted.")
        if parked is not None:
            await dispatcher.feed_update(bot, parked)
        return
    if outcome in (TotpOutcome.BLOCKED, TotpOutcome.NOT_ENROLLED):
        await state.clear()
    await send_text(bot, message.chat.id, OUTCOME_TEXT[outcome])


async def enroll(
    message: Message,
    bot: Bot,
    state: FSMContext,
    hw: BotServices,
    hw_user: User,
    hw_reading: Reading,
) -> None:
    current = hw_reading.args[0] if hw_reading.args else None
    if current is not None:
        await delete_message(bot, message.chat.id, message.message_id)
    try:
        enrolment = await hw.core.totp.begin_enrolment(hw_user, current)
    except HostwardenError as exc:
        hint = (
            " Send /enroll2fa CODE with a code from your current authenticator."
            if current is None
            else ""
        )
        await send_text(bot, message.chat.id, html.escape(str(exc)) + "." + hint)
        return
    seconds = hw.telegram.qr_delete_seconds
    try:
        photo = await bot.send_photo(
            message.chat.id,
            BufferedInputFile(qr_png(enrolment.uri), filename="hostwarden-2fa.png"),
            caption=f"Scan this with your authenticator app. It disappears in {seconds} s.",
            protect_content=True,
            has_spoiler=True,
        )
        hw.deletions.schedule(message.chat.id, photo.message_id, seconds)
        secret = await bot.send_message(
            message.chat.id,
            f"Or enter this key by hand: <code>{enrolment.secret}</code>\n"
            "Then send the first 6-digit code it shows to finish.",
            protect_content=True,
        )
        hw.deletions.schedule(message.chat.id, secret.message_id, seconds)
    except (TelegramAPIError, TelegramNetworkError) as exc:
        LOG.warning("enrolment QR could not be sent: %s", type(exc).__name__)
        await send_text(bot, message.chat.id, "The QR code could not be sent; try again.")
        return
    await state.set_state(TwoFactor.confirming_enrolment)
    wait = timedelta(seconds=max(hw.telegram.challenge_seconds, seconds))
    deadline = (hw.clock.now() + wait).isoformat()
    await state.set_data({"deadline": deadline, "sealed": enrolment.sealed})


async def confirm_enrolment(
    message: Message,
    bot: Bot,
    state: FSMContext,
    hw: BotServices,
    hw_user: User,
    hw_reading: Reading,
) -> None:
    await delete_message(bot, message.chat.id, message.message_id)
    if await expired(hw, state):
        await send_text(
            bot, message.chat.id, "⌛ Enrolment timed out; start again with /enroll2fa."
        )
        return
    try:
        sealed = (await state.get_data()).get("sealed")
        codes = await hw.core.totp.confirm_enrolment(hw_user, hw_reading.target, sealed)
    except HostwardenError as exc:
        await send_text(bot, message.chat.id, html.escape(str(exc)) + ". Try again, or /cancel.")
        return
    await state.clear()
    listing = "\n".join(f"<code>{code}</code>" for code in codes)
    sent = await send_text(
        bot,
        message.chat.id,
        "✅ Two-factor codes are on.\n\nRecovery codes, each usable once if you lose your "
        f"phone. They are shown only now and this message disappears in "
        f"{RECOVERY_DELETE_SECONDS // 60} min: write them down.\n\n{listing}",
        protect=True,
    )
    if sent is not None:
        hw.deletions.schedule(message.chat.id, sent.message_id, RECOVERY_DELETE_SECONDS)


def build_router() -> Router:
    """A fresh router with this module's handlers (a router attaches to one dispatcher)."""
    router = Router(name="twofactor")
    router.message.register(code_for_parked_action, Route(CODE))
    router.message.register(enroll, Route("/enroll2fa"))
    router.message.register(confirm_enrolment, Route(ENROL_CODE))
    return router
