"""/hosts (every host at a glance), the host picker's presses, and a host name that is none."""

from __future__ import annotations

import html

from aiogram import Bot, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from hostwarden.bot.handlers.common import Target, show
from hostwarden.bot.hostpick import choose_host, host_of, picker_rows, title
from hostwarden.bot.keyboards import main_menu
from hostwarden.bot.reading import BAD_HOST, HOST_PICK, Reading, Route
from hostwarden.bot.safe_send import answer_callback, send_text
from hostwarden.bot.services import BotServices
from hostwarden.core.identity import User
from hostwarden.errors import HostwardenError

BAD_HOST_TEXT = (
    "⚠️ That is not a host name: write NAME@HOST or @HOST with a host from /hosts "
    "(lowercase letters, digits and '-')."
)


def visible_hosts(hw: BotServices, user: User | None) -> list[str]:
    """The fleet's hosts ``user`` may act on (``access.host_grants``), in fleet order."""
    allowed = hw.core.guard.hosts_for(user) if user is not None else None
    return [name for name in hw.hosts().names() if allowed is None or name in allowed]


async def _overview(
    bot: Bot, target: Target, hw: BotServices, user: User | None, chosen: str | None
) -> None:
    names = visible_hosts(hw, user)
    rows = await hw.host_overview().read(hw.hosts(), names)
    current = chosen or hw.hosts().default
    text = hw.renderer.render("hosts", rows=rows, chosen=current, now=hw.clock.now())
    picker = picker_rows(names, current)[:-1]  # without its "All hosts" row: this is that view
    last = [
        InlineKeyboardButton(text="🔄 Refresh", callback_data="v:hosts"),
        InlineKeyboardButton(text="☰ Menu", callback_data="v:menu"),
    ]
    await show(bot, target, text, InlineKeyboardMarkup(inline_keyboard=[*picker, last]))


async def hosts_command(
    message: Message,
    bot: Bot,
    hw: BotServices,
    hw_user: User | None = None,
    hw_chosen_host: str | None = None,
) -> None:
    await _overview(bot, message, hw, hw_user, hw_chosen_host)


async def hosts_button(
    query: CallbackQuery,
    bot: Bot,
    hw: BotServices,
    hw_user: User | None = None,
    hw_chosen_host: str | None = None,
) -> None:
    await _overview(bot, query, hw, hw_user, hw_chosen_host)


async def pick_host(
    query: CallbackQuery,
    bot: Bot,
    hw: BotServices,
    hw_reading: Reading,
    state: FSMContext,
    hw_user: User | None = None,
) -> None:
    """``h:NAME``: the guard allowed this user ``NAME``; it sticks for this chat."""
    try:
        host = host_of(hw, hw_reading.host)
    except HostwardenError as exc:
        await answer_callback(bot, query.id, str(exc))
        return
    await choose_host(state, host.name)
    rows = picker_rows(visible_hosts(hw, user=hw_user), host.name)
    text = f"🖥 Now on host <b>{html.escape(title(hw, host))}</b>. Choose a view:"
    await show(bot, query, text, main_menu(rows))


async def bad_host(message: Message, bot: Bot) -> None:
    await send_text(bot, message.chat.id, BAD_HOST_TEXT)


def build_router() -> Router:
    """A fresh router with this module's handlers (a router attaches to one dispatcher)."""
    router = Router(name="hosts")
    router.message.register(hosts_command, Route("/hosts"))
    router.callback_query.register(hosts_button, Route("view:hosts"))
    router.callback_query.register(pick_host, Route(HOST_PICK))
    router.message.register(bad_host, Route(BAD_HOST))
    return router
