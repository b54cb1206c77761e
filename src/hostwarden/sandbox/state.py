"""What the offline Telegram remembers: users, chats, messages, pending updates, the transcript."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

BOT_USER_ID = 7_000_000_001


class ApiError(Exception):
    """A Bot API refusal, shaped as Telegram shapes it."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


@dataclass
class Event:
    """One line of the transcript: something the bot did in a chat."""

    seq: int
    kind: str  # sent, edited, deleted, answered
    chat_id: int
    message_id: int | None = None
    text: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "text": self.text,
            **self.detail,
        }


class SandboxState:
    """All of the sandbox's memory; every mutation notifies waiters."""

    def __init__(self, token: str, bot_username: str = "hostwarden_sandbox_bot") -> None:
        self.token = token
        self.bot_user = {
            "id": BOT_USER_ID,
            "is_bot": True,
            "first_name": "hostwarden",
            "username": bot_username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.users: dict[int, dict[str, Any]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []
        self.callbacks: dict[str, int] = {}  # query id -> user id, until answered
        self.events: list[Event] = []
        self.webhook: dict[str, Any] | None = None
        self.poller: asyncio.Future[None] | None = None
        self.closing = False  # set at shutdown: every pending long poll returns at once
        self.changed = asyncio.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._seq = itertools.count(1)

    # Users and what they send

    def register_user(self, user_id: int, username: str | None, first_name: str) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name or "User"}
        if username:
            user["username"] = username
        self.users[user_id] = user
        return user

    def private_chat(self, user_id: int) -> dict[str, Any]:
        user = self.users.get(user_id, {})
        chat: dict[str, Any] = {
            "id": user_id,
            "type": "private",
            "first_name": user.get("first_name", "User"),
        }
        if "username" in user:
            chat["username"] = user["username"]
        return chat

    def new_message_id(self) -> int:
        return next(self._message_ids)

    def new_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self.updates.append(update)
        return update

    def new_query_id(self, user_id: int) -> str:
        query_id = str(9_000_000 + next(self._query_ids))
        self.callbacks[query_id] = user_id
        return query_id

    def record(
        self, kind: str, chat_id: int, message_id: int | None = None, text: str = "", **detail: Any
    ) -> Event:
        event = Event(next(self._seq), kind, chat_id, message_id, text, detail)
        self.events.append(event)
        return event

    def now(self) -> int:
        return int(time.time())

    # Reading

    def message(self, chat_id: int, message_id: int, missing: str) -> dict[str, Any]:
        found = self.messages.get((chat_id, message_id))
        if found is None:
            raise bad_request(missing)
        return found

    def events_after(self, seq: int, chat_id: int | None = None) -> list[Event]:
        return [e for e in self.events if e.seq > seq and (chat_id is None or e.chat_id == chat_id)]

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq if self.events else 0

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()
