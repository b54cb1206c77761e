"""/check_bot_updates: the installed hostwarden against the release feed."""

from __future__ import annotations

import html

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Message

from hostwarden.bot.handlers.common import Target, show
from hostwarden.bot.keyboards import back_to_menu
from hostwarden.bot.reading import Route
from hostwarden.bot.services import BotServices
from hostwarden.errors import HostwardenError
from hostwarden.updates import NOT_CONFIGURED


async def _check(bot: Bot, target: Target, hw: BotServices) -> None:
    if not hw.releases.configured:
        await show(bot, target, html.escape(NOT_CONFIGURED), back_to_menu("updates"))
        return
    try:
        result = await hw.releases.check()
    except HostwardenError as exc:
        await show(bot, target, f"⚠️ {html.escape(str(exc))}", back_to_menu("updates"))
        return
    await show(bot, target, hw.renderer.render("release", r=result), back_to_menu("updates"))


async def check_command(message: Message, bot: Bot, hw: BotServices) -> None:
    await _check(bot, message, hw)


async def check_button(query: CallbackQuery, bot: Bot, hw: BotServices) -> None:
    await _check(bot, query, hw)


def build_router() -> Router:
    """A fresh router with this module's handlers (a router attaches to one dispatcher)."""
    router = Router(name="updates")
    router.message.register(check_command, Route("/check_bot_updates"))
    router.callback_query.register(check_button, Route("view:updates"))
    return router
