"""The sandbox answers aiogram's real HTTP client as Telegram does, errors included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramNotFound,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from hostwarden.sandbox.client import SandboxClient
from hostwarden.sandbox.server import RunningSandbox, serve
from tests.bot.fakes import TOKEN

USER = 4242


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[RunningSandbox, Bot, SandboxClient]]:
    async with serve(TOKEN) as running, SandboxClient(running.url) as chat:
        session = AiohttpSession(api=TelegramAPIServer.from_base(running.url))
        bot = Bot(TOKEN, session=session)
        await chat.register(USER, "tester", "Tess")
        yield running, bot, chat
        await session.close()


async def test_messages_edits_files_and_deletes(
    sandbox: tuple[RunningSandbox, Bot, SandboxClient],
) -> None:
    _, bot, chat = sandbox
    me = await bot.get_me()
    assert me.is_bot and me.username == "hostwarden_sandbox_bot"
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]]
    )
    sent = await bot.send_message(
        USER, "<b>hi</b> &amp; bye", parse_mode="HTML", reply_markup=markup
    )
    assert sent.text == "<b>hi</b> &amp; bye" and sent.chat.id == USER
    edited = await bot.edit_message_text("second", chat_id=USER, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "second"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("second", chat_id=USER, message_id=sent.message_id)
    await bot.edit_message_reply_markup(
        chat_id=USER, message_id=sent.message_id, reply_markup=markup
    )
    document = await bot.send_document(
        USER, BufferedInputFile(b"x" * 1234, "report.txt"), caption="r"
    )
    assert document.document is not None and document.document.file_name == "report.txt"
    photo = await bot.send_photo(USER, BufferedInputFile(b"png" * 100, "q.png"), has_spoiler=True)
    assert photo.has_media_spoiler
    assert await bot.delete_message(USER, photo.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, photo.message_id)
    kinds = [e["kind"] for e in await chat.events(0, USER)]
    assert kinds == ["sent", "edited", "edited", "sent", "sent", "deleted"]


async def test_telegrams_refusals(sandbox: tuple[RunningSandbox, Bot, SandboxClient]) -> None:
    _, bot, _ = sandbox
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "hello")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "<script>x</script>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("123")
    wrong = Bot("1:" + "A" * 35, session=bot.session)
    with pytest.raises(TelegramUnauthorizedError):
        await wrong.get_me()

    class Unknown(TelegramMethod[bool]):
        __returning__ = bool
        __api_method__ = "noSuchMethod"

    with pytest.raises(TelegramNotFound):
        await bot(Unknown())


async def test_long_polling_waits_for_updates_and_conflicts_like_telegram(
    sandbox: tuple[RunningSandbox, Bot, SandboxClient],
) -> None:
    running, bot, chat = sandbox
    waiting = asyncio.create_task(bot.get_updates(timeout=20))
    await asyncio.sleep(0)  # let the request leave
    await chat.say(USER, "/status")
    [update] = await asyncio.wait_for(waiting, 20)
    assert update.message is not None and update.message.text == "/status"
    # Confirming with offset drops it; a second poller ends the first with 409.
    first = asyncio.create_task(bot.get_updates(offset=update.update_id + 1, timeout=20))
    state = running.state
    async with state.changed:
        await asyncio.wait_for(
            state.changed.wait_for(lambda: state.poller is not None and not state.poller.done()), 20
        )
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 20)
    assert await asyncio.wait_for(second, 20) == []
    assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s")
    with pytest.raises(TelegramConflictError, match="while webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    with pytest.raises(TelegramBadRequest, match="HTTPS URL must be provided"):
        await bot.set_webhook("http://example.org/hook")


async def test_buttons_press_into_callback_queries(
    sandbox: tuple[RunningSandbox, Bot, SandboxClient],
) -> None:
    _, bot, chat = sandbox
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="go")]]
    )
    sent = await bot.send_message(USER, "pick", reply_markup=markup)
    await chat.press(USER, sent.message_id, "go")
    [update] = await bot.get_updates()
    assert update.callback_query is not None and update.callback_query.data == "go"
    assert await bot.answer_callback_query(update.callback_query.id, text="ok")
    [answered] = [e for e in await chat.events(0, USER) if e["kind"] == "answered"]
    assert answered["text"] == "ok"
