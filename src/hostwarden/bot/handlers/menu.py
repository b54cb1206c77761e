"""/start, /help, /menu, /cancel, /getmyid, and the answer to anything else."""

from __future__ import annotations

import html

from aiogram import Bot, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from hostwarden.bot.handlers.common import show
from hostwarden.bot.handlers.hosts import visible_hosts
from hostwarden.bot.hostpick import picker_rows
from hostwarden.bot.keyboards import main_menu
from hostwarden.bot.reading import EXPIRED_PRESS, PRIVATE_ONLY, TEXT, Route
from hostwarden.bot.safe_send import answer_callback, send_text
from hostwarden.bot.services import BotServices
from hostwarden.core.identity import Role, User

USER_HELP = """<b>hostwarden</b> — your server, from Telegram.

/status — quick view · /cpu · /memory · /disks · /network · /processes · /sensors · /uptime
/containers — containers · /images — images and their updates
/check_bot_updates — is there a newer hostwarden?
/enroll2fa — set up two-factor codes · /getmyid — your Telegram ID
/menu — buttons for all of it"""

ADMIN_HELP = """
<b>Admin</b> (critical actions ask for a fresh 2FA code)
/container NAME — details · /logs NAME [N] — last N lines
/up NAME · /down NAME · /restart NAME
/audit [N] — recent audit events
/blocked · /unblock KEY — blocks (KEY as listed, e.g. tg:123)
/sessions · /revoke HANDLE — sessions"""


FLEET_HELP = """
<b>Hosts</b>
/hosts — every host at a glance; the buttons under /menu choose the one this chat acts on
Name one in a command: /status @HOST · /logs NAME@HOST [N] · /restart NAME@HOST"""


def help_text(user: User | None, fleet: bool = False) -> str:
    """The /help text; ``fleet`` adds how to choose and name hosts."""
    admin = user is not None and user.has_role(Role.ADMIN)
    return USER_HELP + (ADMIN_HELP if admin else "") + (FLEET_HELP if fleet else "")


def _menu(hw: BotServices, user: User | None, chosen: str | None) -> InlineKeyboardMarkup:
    """The main menu, with the host picker (the chat's host marked) when there are several."""
    return main_menu(picker_rows(visible_hosts(hw, user), chosen or hw.hosts().default))


def _choose(hw: BotServices, chosen: str | None) -> str:
    if len(hw.hosts().names()) < 2:
        return "Choose a view:"
    return f"Host <b>{html.escape(chosen or hw.hosts().default)}</b>. Choose a view:"


async def start(
    message: Message,
    bot: Bot,
    hw: BotServices,
    hw_user: User | None,
    hw_chosen_host: str | None = None,
) -> None:
    text = help_text(hw_user, fleet=len(hw.hosts().names()) > 1)
    await send_text(bot, message.chat.id, text, _menu(hw, hw_user, hw_chosen_host))


async def menu(
    message: Message,
    bot: Bot,
    hw: BotServices,
    hw_user: User | None = None,
    hw_chosen_host: str | None = None,
) -> None:
    markup = _menu(hw, hw_user, hw_chosen_host)
    await send_text(bot, message.chat.id, _choose(hw, hw_chosen_host), markup)


async def menu_button(
    query: CallbackQuery,
    bot: Bot,
    hw: BotServices,
    hw_user: User | None = None,
    hw_chosen_host: str | None = None,
) -> None:
    await show(bot, query, _choose(hw, hw_chosen_host), _menu(hw, hw_user, hw_chosen_host))


async def cancel(message: Message, bot: Bot, state: FSMContext) -> None:
    had = await state.get_state()
    await state.clear()
    await send_text(bot, message.chat.id, "Cancelled." if had else "Nothing to cancel.")


async def getmyid(message: Message, bot: Bot) -> None:
    user = message.from_user
    if user is None:
        return
    await send_text(
        bot,
        message.chat.id,
        f"Your Telegram ID is <code>{user.id}</code>.\nGive it to the server's admin to be let in.",
    )


async def anything_else(message: Message, bot: Bot) -> None:
    """Plain text or an unknown command from a known user: point at /help."""
    await send_text(bot, message.chat.id, "That is not something I know. Try /help.")


PRIVATE_ONLY_TEXT = "Use a private chat with me for that."


async def private_only(message: Message, bot: Bot) -> None:
    """A command that shows secrets or acts on the server, sent in a group."""
    await send_text(bot, message.chat.id, PRIVATE_ONLY_TEXT)


async def private_only_press(query: CallbackQuery, bot: Bot) -> None:
    await answer_callback(bot, query.id, PRIVATE_ONLY_TEXT)


async def expired_press(query: CallbackQuery, bot: Bot) -> None:
    await answer_callback(bot, query.id, "This confirmation has expired.")


def build_router() -> Router:
    """A fresh router with this module's handlers (a router attaches to one dispatcher)."""
    router = Router(name="menu")
    router.message.register(start, Route("/start", "/help"))
    router.message.register(menu, Route("/menu"))
    router.callback_query.register(menu_button, Route("view:menu"))
    router.message.register(cancel, Route("/cancel"))
    router.message.register(getmyid, Route("/getmyid"))
    router.message.register(anything_else, Route(TEXT))
    router.message.register(private_only, Route(PRIVATE_ONLY))
    router.callback_query.register(private_only_press, Route(PRIVATE_ONLY))
    router.callback_query.register(expired_press, Route(EXPIRED_PRESS))
    return router
