"""pyTMBot 0.3.3's ``AccessControl`` middleware, in memory, logging through loguru.

The Telegram stand-ins (user, chat, message; sending stubbed), the decision's constants and
helpers, and :class:`PyTMBotLike`: an allow-list, a per-ID attempt counter, a block at the 3rd
attempt for an hour, an admin notification at most once per ID every 300 s, each step logged
with its context through :class:`~bench.pytmbot_like.records.ContextLogger`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bench.pytmbot_like.masking import mask_chat_id, mask_user_id, mask_username
from bench.pytmbot_like.records import ContextLogger
from hostwarden.core.clock import Clock

MAX_ATTEMPTS = 3
BLOCK = timedelta(hours=1)
NOTIFY_EVERY = timedelta(seconds=300)
SETUP_COMMANDS = frozenset({"/getmyid"})
COMPONENT = "AccessControl"  # pyTMBot's component name: the middleware's class name


# --- the middleware ----------------------------------------------------------------------------


@dataclass(slots=True)
class _User:
    id: int
    username: str | None
    first_name: str | None = None
    last_name: str | None = None
    is_bot: bool = False


@dataclass(slots=True)
class _Chat:
    id: int
    type: str = "private"


@dataclass(slots=True)
class _Message:
    """The part of a Telegram message the middleware reads."""

    message_id: int
    chat: _Chat
    from_user: _User
    text: str | None
    content_type: str = field(default="text")


def _stub_send(chat_id: int, text: str) -> None:
    """A Telegram call, stubbed (on hostwarden's side the outbox is stored, not sent)."""


def _label(user: _User) -> str:
    if user.username and user.username.strip():
        return user.username.strip()
    parts = [p.strip() for p in (user.first_name, user.last_name) if p and p.strip()]
    return " ".join(parts) if parts else "unknown"


def _command(text: str | None) -> str:
    return text.strip().split()[0] if text and text.strip() else "unknown"


def _is_setup(text: str | None) -> bool:
    if not text or not text.strip():
        return False
    return _command(text).lower().split("@")[0] in SETUP_COMMANDS


class AccessState:
    """What both baselines keep, in memory only: the allow-list, counts, blocks, notices."""

    def __init__(self, allowed: set[int], clock: Clock, admin_chat: int) -> None:
        self._allowed = frozenset(allowed)
        self._clock = clock
        self._admin_chat = admin_chat
        self._attempts: dict[int, int] = {}
        self._blocked: dict[int, datetime] = {}
        self._notified: dict[int, datetime] = {}


class PyTMBotLike(AccessState):
    """pyTMBot 0.3.3's access control, in memory, logging through loguru as pyTMBot ships it."""

    def __init__(self, allowed: set[int], clock: Clock, admin_chat: int = 100_000_001) -> None:
        super().__init__(allowed, clock, admin_chat)
        self._lock = threading.RLock()
        self._log = ContextLogger()
        self._message_ids = 0

    @contextmanager
    def _logging(self, **fields: object) -> Iterator[ContextLogger]:
        with self._log.context(component=COMPONENT, **fields) as log:
            yield log

    def check(self, user_id: int, username: str = "stranger", text: str = "/status") -> bool:
        """Whether the message may go on to the handlers."""
        self._message_ids += 1
        user = _User(user_id, username)
        return self.pre_process(_Message(self._message_ids, _Chat(user_id), user, text))

    def pre_process(self, message: _Message) -> bool:
        user, chat_id, text = message.from_user, message.chat.id, message.text
        if text:
            incoming = {
                "user_id": mask_user_id(user.id),
                "chat_id": chat_id,
                "text_length": len(text),
                "cmd": text.lstrip().startswith("/"),
                "update_type": "message",
            }
            with self._logging(**incoming) as log:
                log.debug("bot.access.incoming.received.debug")
        label = _label(user)
        base: dict[str, object] = {
            "operation": "pre_process",
            "message_id": message.message_id,
            "chat_id": chat_id,
            "chat_type": message.chat.type,
            "user_id": mask_user_id(user.id),
            "username": mask_username(label),
            "user_is_bot": user.is_bot,
            "update_type": "message",
        }
        if self._is_blocked(user.id):
            with self._lock:
                until = self._blocked.get(user.id)
            blocked = {
                **base,
                "operation": "access_blocked",
                "block_expires": until.isoformat() if until else "unknown",
                "block_reason": "max_attempts_exceeded",
            }
            with self._logging(**blocked) as log:
                log.warning("bot.access.blocked.silent.deny")
            return False
        if user.id in self._allowed:
            granted = {**base, "operation": "access_granted", "access_status": "authorized"}
            with self._logging(**granted) as log:
                log.trace("bot.access.granted.authorized.ok")
            return True
        return self._refuse(user.id, label, chat_id, text, base)

    def _is_blocked(self, user_id: int) -> bool:
        with self._lock:
            until = self._blocked.get(user_id)
            if until is None:
                return False
            if self._clock.now() < until:
                return True
            del self._blocked[user_id]  # expired since the last clean-up: forget it all
            self._attempts[user_id] = 0
            self._notified.pop(user_id, None)
            return False

    def _refuse(
        self, user_id: int, label: str, chat_id: int, text: str | None, base: dict[str, object]
    ) -> bool:
        until: datetime | None = None
        with self._lock:
            attempt = self._attempts.get(user_id, 0) + 1
            self._attempts[user_id] = attempt
            if attempt >= MAX_ATTEMPTS:
                until = self._clock.now() + BLOCK
                self._blocked[user_id] = until
        setup = _is_setup(text)
        context: dict[str, object] = {
            **base,
            "operation": "unauthorized_access",
            "attempt_number": attempt,
            "max_attempts": MAX_ATTEMPTS,
            "attempts_remaining": max(0, MAX_ATTEMPTS - attempt),
            "access_status": "denied",
            "is_setup_command": setup,
            "command": _command(text),
        }
        if attempt >= MAX_ATTEMPTS:
            context["operation"] = "user_blocked"
            context["block_until"] = until.isoformat() if until else "unknown"
            context["block_duration"] = int(BLOCK.total_seconds())
            context["block_reason"] = "max_attempts_exceeded"
            with self._logging(**context) as log:
                log.warning("bot.access.user.blocked.deny")
            return False  # blocked without a word
        with self._logging(**context) as log:
            log.warning("bot.access.unauthorized.attempt.deny")
        self._notify_admin(user_id, label, chat_id, attempt, setup)
        if setup:
            context["operation"] = "setup_command_allowed"
            context["access_status"] = "setup_command_granted"
            with self._logging(**context) as log:
                log.info("bot.access.command.allowed.init")
            return True
        _stub_send(chat_id, _refusal(attempt))
        return False

    def _notify_admin(
        self, user_id: int, label: str, chat_id: int, attempt: int, setup: bool
    ) -> None:
        now = self._clock.now()
        with self._lock:
            last = self._notified.get(user_id, datetime.min.replace(tzinfo=now.tzinfo))
            since = (now - last).total_seconds()
            quiet = since < NOTIFY_EVERY.total_seconds()
            if not quiet:
                self._notified[user_id] = now
        if quiet:
            suppressed = {
                "operation": "admin_notification",
                "user_id": mask_user_id(user_id),
                "username": mask_username(label),
                "chat_id": chat_id,
                "attempt_number": attempt,
                "notification_status": "suppressed",
                "suppression_duration": int(NOTIFY_EVERY.total_seconds()),
                "time_since_last_notify": since,
                "is_setup_command": setup,
            }
            with self._logging(**suppressed) as log:
                log.debug("bot.access.admin.notification.debug")
            return
        name, masked_id = mask_username(label), mask_user_id(user_id)
        context: dict[str, object] = {
            "operation": "admin_notification",
            "user_id": masked_id,
            "username": name,
            "masked_username": name,
            "masked_user_id": masked_id,
            "chat_id": mask_chat_id(chat_id),
            "attempt_number": attempt,
            "notification_status": "sending",
            "admin_chat_id": mask_chat_id(self._admin_chat),
            "is_setup_command": setup,
        }
        left = max(0, MAX_ATTEMPTS - attempt)
        text = (
            f"Unauthorized access attempt #{attempt}\nUser: `{name}` (ID: `{masked_id}`)\n"
            f"Chat ID: `{mask_chat_id(chat_id)}`\n"
        )
        if left:
            text += f"Attempts left: `{left}`\n"
            context["attempts_remaining"] = left
        else:
            text += "Blocked after this attempt\n"
            context["user_will_be_blocked"] = True
        text += f"\nAccess denied. Setup commands: `{', '.join(SETUP_COMMANDS)}`"
        _stub_send(self._admin_chat, text)
        context["notification_status"] = "sent"
        context["message_length"] = len(text)
        with self._logging(**context) as log:
            log.info("bot.access.admin.notification.info")


def _refusal(attempt: int) -> str:
    left = max(0, MAX_ATTEMPTS - attempt)
    if attempt >= MAX_ATTEMPTS:
        return "Access denied. You will be blocked after this attempt."
    return f"You don't have access to this service.\n{left} attempts left."
