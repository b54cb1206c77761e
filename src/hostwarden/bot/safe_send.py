"""Sending that never breaks a handler: Telegram errors are logged (without secrets) and swallowed.

Used where a failed reply must not undo what was already done (an audited action, a block).
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.types import InlineKeyboardMarkup, Message

LOG = logging.getLogger("hostwarden.bot")


async def send_text(
    bot: Bot,
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    protect: bool = False,
) -> Message | None:
    """Send Telegram-HTML ``text``; ``None`` if Telegram refused or could not be reached."""
    try:
        return await bot.send_message(
            chat_id, text, reply_markup=markup, protect_content=protect or None
        )
    except (TelegramAPIError, TelegramNetworkError) as exc:
        LOG.warning("sendMessage failed: %s", type(exc).__name__)
        return None


async def answer_callback(bot: Bot, query_id: str, text: str | None = None) -> None:
    """Answer a button press (stops the client's spinner); errors are only logged."""
    try:
        await bot.answer_callback_query(query_id, text=text)
    except (TelegramAPIError, TelegramNetworkError) as exc:
        LOG.info("answerCallbackQuery failed: %s", type(exc).__name__)


async def delete_message(bot: Bot, chat_id: int, message_id: int) -> bool:
    """Delete a message; ``False`` if it was already gone or too old."""
    try:
        return await bot.delete_message(chat_id, message_id)
    except (TelegramAPIError, TelegramNetworkError) as exc:
        LOG.info("deleteMessage failed: %s", type(exc).__name__)
        return False
