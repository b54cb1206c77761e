"""Showing a view either as a new message (a command) or in place (a button press)."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from hostwarden.bot.safe_send import answer_callback, send_text

LOG = logging.getLogger("hostwarden.bot")

Target = Message | CallbackQuery


def chat_id_of(target: Target) -> int:
    if isinstance(target, Message):
        return target.chat.id
    message = target.message
    return message.chat.id if message is not None else target.from_user.id


async def show(
    bot: Bot, target: Target, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Reply to a command, or replace the pressed message's text (falling back to a new one)."""
    if isinstance(target, CallbackQuery):
        await answer_callback(bot, target.id)
        message = target.message
        if isinstance(message, Message):
            try:
                await bot.edit_message_text(
                    text,
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    reply_markup=markup,
                )
                return
            except TelegramBadRequest as exc:
                if "not modified" in str(exc):
                    return
                LOG.info("editMessageText refused, sending anew: %s", exc.message[:100])
            except (TelegramAPIError, TelegramNetworkError) as exc:
                LOG.warning("editMessageText failed: %s", type(exc).__name__)
                return
    await send_text(bot, chat_id_of(target), text, markup)
