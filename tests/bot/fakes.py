"""A recording aiogram session (no network) and helpers to build updates, for feed_update tests."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncGenerator
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.methods import TelegramMethod
from aiogram.types import Update

from hostwarden.sandbox.markup import MarkupError, parse_html
from hostwarden.sandbox.messages import CAPTION_LIMIT, MESSAGE_LIMIT

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
BOT_ID = 123456789
_DATE = 1_767_225_600  # 2026-01-01


def telegram_refusal(method: TelegramMethod[Any]) -> str | None:
    """Telegram's complaint about a message's markup or length, as the sandbox checks them."""
    for field, limit in (("text", MESSAGE_LIMIT), ("caption", CAPTION_LIMIT)):
        value = getattr(method, field, None)
        if not isinstance(value, str):
            continue
        try:
            plain = parse_html(value)
        except MarkupError as exc:
            return f"can't parse entities: {exc}"
        if len(plain) > limit:
            return "message is too long"
    return None


class RecordingSession(BaseSession):
    """Answers every Bot API call as Telegram would on success, and remembers it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self._ids = itertools.count(1000)
        self.fail_with: Exception | None = None

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> Any:
        if self.fail_with is not None:
            raise self.fail_with
        refusal = telegram_refusal(method)
        if refusal is not None:
            # What Telegram would answer; aiogram raises TelegramBadRequest from it.
            return self.check_response(
                bot,
                method,
                400,
                json.dumps(
                    {"ok": False, "error_code": 400, "description": f"Bad Request: {refusal}"}
                ),
            ).result
        self.calls.append(method)
        result = self._result(method)
        return self.check_response(
            bot, method, 200, json.dumps({"ok": True, "result": result})
        ).result

    def _result(self, method: TelegramMethod[Any]) -> Any:
        name = type(method).__name__
        chat_id = getattr(method, "chat_id", 0)
        message = {
            "message_id": next(self._ids),
            "date": _DATE,
            "chat": {"id": chat_id, "type": "private"},
        }
        if name in ("SendMessage", "EditMessageText"):
            return {**message, "text": getattr(method, "text", "")}
        if name == "SendPhoto":
            return {
                **message,
                "photo": [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}],
            }
        if name == "GetMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "hostwarden", "username": "hw_bot"}
        return True

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""  # pragma: no cover

    # Reading what the bot did

    def named(self, name: str) -> list[TelegramMethod[Any]]:
        return [call for call in self.calls if type(call).__name__ == name]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of sent and edited messages (to ``chat_id`` if given), in order."""
        found = []
        for call in self.calls:
            sent = type(call).__name__ in ("SendMessage", "EditMessageText")
            if sent and (chat_id is None or getattr(call, "chat_id", None) == chat_id):
                found.append(str(getattr(call, "text", "")))
        return found

    def clear(self) -> None:
        self.calls.clear()


def make_bot(session: RecordingSession) -> Bot:
    return Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


_updates = itertools.count(1)
_messages = itertools.count(1)


def user_dict(
    user_id: int, username: str | None = None, first_name: str = "Test"
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username is not None:
        user["username"] = username
    return user


def message_update(
    user_id: int, text: str, username: str | None = None, first_name: str = "Test"
) -> Update:
    user = user_dict(user_id, username, first_name)
    return Update.model_validate(
        {
            "update_id": next(_updates),
            "message": {
                "message_id": next(_messages),
                "date": _DATE,
                "chat": {"id": user_id, "type": "private", "first_name": first_name},
                "from": user,
                "text": text,
            },
        }
    )


def callback_update(user_id: int, data: str, message_id: int = 1) -> Update:
    user = user_dict(user_id)
    return Update.model_validate(
        {
            "update_id": next(_updates),
            "callback_query": {
                "id": str(next(_updates)),
                "from": user,
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": _DATE,
                    "chat": {"id": user_id, "type": "private"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "hostwarden"},
                    "text": "menu",
                },
            },
        }
    )


def raw_update(kind: str, payload: dict[str, Any]) -> Update:
    return Update.model_validate({"update_id": next(_updates), kind: payload})
