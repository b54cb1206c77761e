"""/claim CODE: the first-run code that makes its sender the admin (see hostwarden.bot.claim)."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import Message

from hostwarden.bot.claim import make_admin
from hostwarden.bot.reading import Reading, Route
from hostwarden.bot.safe_send import send_text
from hostwarden.bot.services import BotServices
from hostwarden.core.identity import Actor

WELCOME = (
    "✅ You are now this bot's admin. Next: two-factor codes with /enroll2fa "
    "(critical actions need them), then /help."
)


async def claim(
    message: Message, bot: Bot, hw: BotServices, hw_actor: Actor, hw_reading: Reading
) -> None:
    code = hw_reading.args[0] if hw_reading.args else ""
    pending = hw.claim
    if pending is None or hw_actor.telegram_id is None or not pending.take(code, hw.clock.now()):
        return  # silence: the guard already counted a stranger's attempt
    await make_admin(hw.core, hw_actor.telegram_id)
    await send_text(bot, message.chat.id, WELCOME)


def build_router() -> Router:
    """A fresh router with this module's handler (a router attaches to one dispatcher)."""
    router = Router(name="claim")
    router.message.register(claim, Route("/claim"))
    return router
