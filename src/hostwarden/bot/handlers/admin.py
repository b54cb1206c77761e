"""Admin commands: /audit [N], /blocked, /unblock KEY, /sessions, /revoke HANDLE."""

from __future__ import annotations

import html

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from hostwarden.bot.actions import small_number
from hostwarden.bot.handlers.common import show
from hostwarden.bot.reading import UNBLOCK_PRESS, Reading, Route
from hostwarden.bot.safe_send import answer_callback, send_text
from hostwarden.bot.services import BotServices
from hostwarden.core.identity import Actor
from hostwarden.core.lockout import parse_key
from hostwarden.errors import HostwardenError, NotFound
from hostwarden.storage.base import AuditQuery

AUDIT_DEFAULT = 15
AUDIT_MAX = 50
BLOCK_BUTTONS = 10


def _who(actor: Actor) -> str:
    return f"tg:{actor.telegram_id}"


async def audit(message: Message, bot: Bot, hw: BotServices, hw_reading: Reading) -> None:
    args = hw_reading.args
    count = small_number(args[0] if args else None, AUDIT_DEFAULT, 1, AUDIT_MAX) or AUDIT_DEFAULT
    events = await hw.core.audit.query(AuditQuery(limit=count))
    await send_text(bot, message.chat.id, hw.renderer.render("audit", events=events))


async def blocked(
    message: Message, bot: Bot, hw: BotServices, hw_actor: Actor, hw_reading: Reading
) -> None:
    blocks = await hw.core.lockout.list_blocks()
    buttons = [
        [
            InlineKeyboardButton(
                text=f"Unblock {number}",
                callback_data="ub:"
                + await hw.confirmations.add(
                    hw_actor.telegram_id or 0, "unblock", block.key, hw_reading.action
                ),
            )
        ]
        for number, block in enumerate(blocks[:BLOCK_BUTTONS], start=1)
    ]
    markup = InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None
    await send_text(bot, message.chat.id, hw.renderer.render("blocks", blocks=blocks), markup)


async def _unblock(hw: BotServices, key: str, actor: Actor) -> str:
    try:
        await hw.core.lockout.unblock(key, _who(actor))
    except NotFound:
        return "No such block (already lifted or expired)."
    return "✅ Block lifted."


async def unblock(
    message: Message, bot: Bot, hw: BotServices, hw_actor: Actor, hw_reading: Reading
) -> None:
    args = hw_reading.args
    if not args:
        await send_text(
            bot,
            message.chat.id,
            "usage: /unblock KEY (e.g. tg:123456789), or press a button under /blocked",
        )
        return
    try:
        text = await _unblock(hw, parse_key(args[0]), hw_actor)
    except HostwardenError as exc:
        text = f"⚠️ {html.escape(str(exc))}"
    await send_text(bot, message.chat.id, text)


async def unblock_button(
    query: CallbackQuery, bot: Bot, hw: BotServices, hw_actor: Actor, hw_reading: Reading
) -> None:
    pending = await hw.confirmations.take(hw_reading.target, hw_actor.telegram_id or 0)
    if pending is None or pending.action != hw_reading.action or pending.verb != "unblock":
        await answer_callback(bot, query.id, "This button has expired; send /blocked again.")
        return
    try:
        text = await _unblock(hw, pending.target, hw_actor)
    except HostwardenError as exc:
        text = f"⚠️ {html.escape(str(exc))}"
    await show(bot, query, text)


async def sessions(message: Message, bot: Bot, hw: BotServices) -> None:
    listed = await hw.core.sessions.list()
    names = {user.id: user.username for user in await hw.core.store.users.list()} if listed else {}
    await send_text(
        bot,
        message.chat.id,
        hw.renderer.render("sessions", sessions=listed, names=names, now=hw.clock.now()),
    )


async def revoke(
    message: Message, bot: Bot, hw: BotServices, hw_actor: Actor, hw_reading: Reading
) -> None:
    args = hw_reading.args
    if not args:
        await send_text(bot, message.chat.id, "usage: /revoke HANDLE (as listed by /sessions)")
        return
    count = await hw.core.sessions.revoke(args[0][:64], _who(hw_actor))
    text = "✅ Session revoked." if count else "No session has that handle."
    await send_text(bot, message.chat.id, text)


def build_router() -> Router:
    """A fresh router with this module's handlers (a router attaches to one dispatcher)."""
    router = Router(name="admin")
    router.message.register(audit, Route("/audit"))
    router.message.register(blocked, Route("/blocked"))
    router.message.register(unblock, Route("/unblock"))
    router.callback_query.register(unblock_button, Route(UNBLOCK_PRESS))
    router.message.register(sessions, Route("/sessions"))
    router.message.register(revoke, Route("/revoke"))
    return router
