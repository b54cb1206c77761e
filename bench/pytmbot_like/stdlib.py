"""The earlier, lighter imitation: the same decisions and log calls through stdlib ``logging``.

:class:`StdlibPyTMBotLike` decides as :class:`~bench.pytmbot_like.middleware.PyTMBotLike` does,
but logs through a standard-library logger with a smaller context: two handlers whose filters run
three secret patterns over the message and fields (no cache), one text line per record, no
binding, no context variable, no JSON. ``configure_stdlib`` sets those handlers up.
"""

from __future__ import annotations

import logging
import re
from typing import Any, TextIO

from bench.pytmbot_like.middleware import BLOCK, MAX_ATTEMPTS, NOTIFY_EVERY, AccessState, _stub_send
from hostwarden.core.clock import Clock

LOG = logging.getLogger("bench.pytmbot_like")
_SECRETS = (
    re.compile(r"\b\d{8,10}:[A-Za-z0-9_-]{35}\b"),  # bot tokens
    re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),  # e-mail addresses
    re.compile(r"(?i)\b(?:password|secret|token)=\S+"),
)


def mask_digits(value: int | None) -> str:
    if value is None:
        return "[MASKED]"
    text = str(abs(value))
    if len(text) <= 6:
        return "[MASKED]"
    keep = min(2, (len(text) - 4) // 2)
    return text[:keep] + "*" * (len(text) - 2 * keep) + text[-keep:]


def mask_name(name: str) -> str:
    name = name.strip().removeprefix("@")
    if len(name) <= 4:
        return "[MASKED_USER]"
    keep = min(2, (len(name) - 3) // 2)
    return name[:keep] + "*" * (len(name) - 2 * keep) + name[-keep:]


def _sanitise(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub("***", text)
    return text


class Sanitising(logging.Filter):
    """Both stdlib handlers' filter: which one a record is for, its message and fields cleaned."""

    def __init__(self, sensitive: bool) -> None:
        super().__init__()
        self._sensitive = sensitive

    def filter(self, record: logging.LogRecord) -> bool:
        fields: dict[str, Any] = getattr(record, "context", {})
        if bool(fields.get("sensitive")) is not self._sensitive:
            return False
        record.msg = _sanitise(str(record.msg))
        record.context = {
            k: _sanitise(v) if isinstance(v, str) else v for k, v in sorted(fields.items())
        }
        return True


class WithFields(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "context", {}).items())
        return f"{super().format(record)} | {fields}"


def configure_stdlib(stream: TextIO) -> None:
    LOG.handlers.clear()
    for sensitive in (False, True):
        sink = logging.StreamHandler(stream)
        sink.setFormatter(WithFields("%(asctime)s [%(levelname)-8s] %(name)s: %(message)s"))
        sink.addFilter(Sanitising(sensitive))
        LOG.addHandler(sink)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False


class StdlibPyTMBotLike(AccessState):
    """The same decisions and log calls through stdlib ``logging``: lighter than pyTMBot ships."""

    def __init__(self, allowed: set[int], clock: Clock, admin_chat: int = 1) -> None:
        super().__init__(allowed, clock, admin_chat)

    def check(self, user_id: int, username: str = "stranger", text: str = "/status") -> bool:
        """Whether the message may go on to the handlers."""
        base = {
            "operation": "pre_process",
            "message_id": 1,
            "chat_id": user_id,
            "chat_type": "private",
            "user_id": mask_digits(user_id),
            "username": mask_name(username),
            "user_is_bot": False,
            "update_type": "message",
        }
        incoming = {"user_id": base["user_id"], "text_length": len(text), "cmd": True}
        LOG.debug("bot.access.incoming.received.debug", extra={"context": incoming})
        now = self._clock.now()
        until = self._blocked.get(user_id)
        if until is not None and until > now:
            context = {**base, "operation": "access_blocked", "block_expires": until.isoformat()}
            LOG.warning("bot.access.blocked.silent.deny", extra={"context": context})
            return False
        if user_id in self._allowed:
            context = {**base, "operation": "access_granted", "access_status": "authorized"}
            LOG.log(5, "bot.access.granted.authorized.ok", extra={"context": context})
            return True
        attempt = self._attempts.get(user_id, 0) + 1
        self._attempts[user_id] = attempt
        context = {**base, "operation": "unauthorized_access", "attempt_number": attempt}
        context["attempts_remaining"] = max(0, MAX_ATTEMPTS - attempt)
        if attempt >= MAX_ATTEMPTS:
            self._blocked[user_id] = now + BLOCK
            context["block_until"] = (now + BLOCK).isoformat()
            LOG.warning("bot.access.user.blocked.deny", extra={"context": context})
            return False
        LOG.warning("bot.access.unauthorized.attempt.deny", extra={"context": context})
        last = self._notified.get(user_id)
        if last is None or now - last >= NOTIFY_EVERY:
            self._notified[user_id] = now
            _stub_send(self._admin_chat, f"Unauthorized access attempt #{attempt}")
            notice = {**context, "notification_status": "sent"}
            LOG.info("bot.access.admin.notification.info", extra={"context": notice})
        _stub_send(user_id, "You don't have access to this service.")
        return False
