"""Seeded generation of hostile Telegram updates of every type and form, for the bot fuzz."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

from aiogram.types import Update

from tests.bot.fakes import BOT_ID, user_dict

BOT_USERNAME = "hw_bot"
ALLOWED_GROUP = -100_111
FOREIGN_GROUP = -100_222
CHANNEL = -100_333

COMMANDS = [
    *("start", "help", "menu", "cancel", "getmyid", "check_bot_updates", "enroll2fa"),
    *("status", "cpu", "memory", "disks", "network", "processes", "sensors", "uptime"),
    *("containers", "images", "container", "logs", "up", "down", "restart"),
    *("audit", "blocked", "unblock", "sessions", "revoke", "hosts"),
]
ODD_COMMANDS = (
    "/",
    "/foo",
    "/STATUS",
    "/²",
    "/stat us",
    "//status",
    "/status\u200b",
    "/\U0001d42ctatus",
)
SPACES = ("", "", "", " ", "\u00a0", "\t", "\n", "\u2003", "\u200b", "\ufeff", "  \u00a0 ")
MENTIONS = ("", "", "", f"@{BOT_USERNAME}", "@HW_BOT", "@OtherBot", "@", "@hw_bot_x")
ARGS = (
    "",
    " web",
    " ²",
    " " + "9" * 5000,
    " <b>x</b>",
    " tg:123",
    " 1001",
    " -1",
    " ../../etc/passwd",
    " " + "a" * 300,
    " \u202eevil",
    " web 5",
    " web 99999999",
    " tg:555123456",
    " user:Mallory",
    " ip:203.0.113.9",
    " web@db1",
    " web@db2 5",
    " @db2",
    " @DB1",
    " web@nosuch",
    " web@",
    " @<b>x</b>",
    " @db1 @db2",
    " web@db1@db2",
    " @" + "d" * 40,
    " web@\u202edb1",
)
PLAIN = (
    "hello",
    "123456",
    "000000",
    "<script>alert(1)</script>",
    f"@{BOT_USERNAME} hi",
    "status",
    "CPU",
    "\u202e",
    "x" * 5000,
    "",
)
VIEWS = [
    *("menu", "status", "cpu", "memory", "disks", "network", "processes", "sensors", "uptime"),
    *("containers", "images", "updates"),
]


# Views of a named host, hostile ones among them, and the host picker's presses.
HOSTED_VIEWS = ("status@db2", "containers@db1", "images@hub", "menu@db1", "status@DB1", "cpu@")
HOST_PICKS = ("db1", "db2", "hub", "nosuch", "DB1", "", "<b>", "a" * 60, "db1@db2", "-db1")


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sends: a Telegram user ID (``None``: no sender at all) and a kind for the oracle."""

    user_id: int | None
    kind: str  # "stranger", "blocked", "user", "admin", "admin_no_code", "anonymous"


class UpdateFactory:
    """Builds one random update at a time from ``rng``; every choice comes from the seed."""

    def __init__(self, rng: random.Random, senders: list[Sender], nonces: list[str]) -> None:
        self.rng = rng
        self.senders = senders
        self.nonces = nonces
        self._ids = itertools.count(10_000)

    def next(self) -> tuple[Update, Sender]:
        sender = self.rng.choice(self.senders)
        kind = self.rng.choices(
            ["message", "callback", "edited", "channel", "other"], weights=[60, 25, 6, 4, 5]
        )[0]
        payload = getattr(self, f"_{kind}")(sender)
        return Update.model_validate({"update_id": next(self._ids), **payload}), sender

    def _chat(self, sender: Sender) -> dict[str, Any]:
        where = self.rng.choices(["private", "allowed", "foreign"], weights=[70, 18, 12])[0]
        if where == "private" and sender.user_id is not None:
            return {"id": sender.user_id, "type": "private", "first_name": "T"}
        group = ALLOWED_GROUP if where == "allowed" else FOREIGN_GROUP
        return {"id": group, "type": self.rng.choice(["group", "supergroup"]), "title": "g"}

    def _text(self) -> str:
        roll = self.rng.random()
        if roll < 0.65:
            word = "/" + self.rng.choice(COMMANDS) + self.rng.choice(MENTIONS)
        elif roll < 0.75:
            word = self.rng.choice(ODD_COMMANDS)
        else:
            return self.rng.choice(SPACES) + self.rng.choice(PLAIN)
        return self.rng.choice(SPACES) + word + self.rng.choice(ARGS)

    def _message_body(self, sender: Sender, chat: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"message_id": next(self._ids), "date": 1_767_225_600, "chat": chat}
        if sender.user_id is not None:
            body["from"] = user_dict(sender.user_id, self.rng.choice([None, "mallory", "x" * 40]))
        else:
            body["sender_chat"] = {"id": CHANNEL, "type": "channel", "title": "c"}
        form = self.rng.choices(["text", "caption", "sticker", "reply"], weights=[60, 20, 8, 12])[0]
        if form == "text":
            body["text"] = self._text()
        elif form == "caption":
            body["photo"] = [{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]
            body["caption"] = self._text()
        elif form == "sticker":
            body["sticker"] = {
                "file_id": "s",
                "file_unique_id": "s",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            }
        else:
            body["text"] = self.rng.choice(PLAIN) or "ok"
            body["reply_to_message"] = {
                "message_id": 1,
                "date": 1_767_225_600,
                "chat": chat,
                "from": {
                    "id": BOT_ID,
                    "is_bot": True,
                    "first_name": "hw",
                    "username": BOT_USERNAME,
                },
                "text": "Choose a view:",
            }
        return body

    def _message(self, sender: Sender) -> dict[str, Any]:
        return {"message": self._message_body(sender, self._chat(sender))}

    def _edited(self, sender: Sender) -> dict[str, Any]:
        body = self._message_body(sender, self._chat(sender))
        return {"edited_message": {**body, "edit_date": 1_767_225_700}}

    def _channel(self, sender: Sender) -> dict[str, Any]:
        chat = {"id": CHANNEL, "type": "channel", "title": "c"}
        body = {
            "message_id": next(self._ids),
            "date": 1_767_225_600,
            "chat": chat,
            "sender_chat": chat,
            "text": self._text(),
        }
        return {self.rng.choice(["channel_post", "edited_channel_post"]): body}

    def _callback(self, sender: Sender) -> dict[str, Any]:
        if sender.user_id is None:
            return self._channel(sender)
        prefix = self.rng.choice(["v", "v", "cp", "ok", "ub", "no", "x", "", "h"])
        if prefix in ("ok", "ub", "no"):
            rest = self.rng.choice([*self.nonces, "forged", "", "a" * 200])
        elif prefix == "v":
            rest = self.rng.choice([*VIEWS, "statusX", "", "../menu", *HOSTED_VIEWS])
        elif prefix == "h":
            rest = self.rng.choice(HOST_PICKS)
        else:
            rest = self.rng.choice(["0", "1", "²", "99999999", "-1", ""])
        query: dict[str, Any] = {
            "id": str(next(self._ids)),
            "from": user_dict(sender.user_id),
            "chat_instance": "ci",
            "data": f"{prefix}:{rest}" if prefix else rest,
        }
        if self.rng.random() < 0.9:
            query["message"] = {
                "message_id": 1,
                "date": 1_767_225_600,
                "chat": self._chat(sender),
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "hw"},
                "text": "menu",
            }
        else:
            query["inline_message_id"] = "inline-1"
        return {"callback_query": query}

    def _other(self, sender: Sender) -> dict[str, Any]:
        who = user_dict(sender.user_id or 42)
        chat = self._chat(sender)
        member = {"status": "member", "user": who}
        kind = self.rng.choice(
            ["inline_query", "my_chat_member", "chosen_inline_result", "chat_join_request"]
        )
        if kind == "inline_query":
            return {"inline_query": {"id": "q", "from": who, "query": "/status", "offset": ""}}
        if kind == "my_chat_member":
            return {
                "my_chat_member": {
                    "chat": chat,
                    "from": who,
                    "date": 1,
                    "old_chat_member": {"status": "left", "user": who},
                    "new_chat_member": member,
                }
            }
        if kind == "chosen_inline_result":
            return {"chosen_inline_result": {"result_id": "r", "from": who, "query": "/up web"}}
        return {"chat_join_request": {"chat": chat, "from": who, "user_chat_id": 1, "date": 1}}
