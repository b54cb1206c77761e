"""The masking the baseline applies: pyTMBot's ``utils.security`` helpers and its logger's masker.

The three ``mask_*`` functions are what the middleware calls on user IDs, usernames and chat IDs
before they go into a log context; :class:`Masker` is what the loguru record filter runs over
messages and fields (known values, then secret-shaped patterns, behind an LRU cache under a lock).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable

# --- masking as the middleware applies it before logging (pyTMBot's utils.security) -------------


def mask_user_id(user_id: int | None, unknown: str = "unknown") -> str:
    """Two leading and two trailing digits around six stars, whatever the length."""
    if user_id is None:
        return unknown
    digits = str(abs(user_id))
    return "*" * len(digits) if len(digits) < 4 else f"{digits[:2]}******{digits[-2:]}"


def _edges(text: str, visible: int, hidden_at_least: int, short: int) -> str | None:
    """``text`` with its middle starred, or None when it is too short to show anything."""
    if len(text) <= short or len(text) <= 2 * visible:
        return None
    keep = min(visible, (len(text) - hidden_at_least) // 2)
    if keep <= 0:
        return None
    return text[:keep] + "*" * (len(text) - 2 * keep) + text[-keep:]


def mask_username(name: str | None) -> str:
    if not name or not name.strip():
        return "unknown"
    name = name.strip()
    masked = _edges(name, 3, 3, 6)
    return "*" * len(name) if masked is None else masked


def mask_chat_id(chat_id: int | None) -> str:
    if chat_id is None:
        return "unknown"
    digits = str(abs(chat_id))
    masked = _edges(digits, 3, 4, 6)
    masked = "*" * len(digits) if masked is None else masked
    return "-" + masked if chat_id < 0 else masked


# --- the logger's masker (pyTMBot's logs.DataMasker) --------------------------------------------


class Masker:
    """Sanitises text for the log filter: known values, then secret-shaped patterns; cached."""

    CACHE_SIZE = 1000
    # (kind, pattern): bot tokens, long base64, "user id = ...", "chat id = ...", "username: x",
    # "user=@x" (the kind decides how a match is masked).
    SECRETS = tuple(
        (kind, re.compile(pattern, re.IGNORECASE))
        for kind, pattern in (
            ("plain", r"\b\d{8,12}:[-0-9A-Z_]{35}\b"),
            ("plain", r"\b[+/0-9A-Z]{80,}=?=?\b"),
            ("user", r"\buser[-_]?id[\s:=]+(\d{6,})\b"),
            ("chat", r"\bchat[-_]?id[\s:=]+(-?\d{6,})\b"),
            ("user", r"\busername\b\s*[:=]\s*['\"]?@?([0-9A-Z_]{3,})\b"),
            ("user", r"\buser\b\s*[:=]\s*@([0-9A-Z_]{3,})\b"),
        )
    )
    # Never masked: a path, a date, a time of day, a year, a short number.
    HARMLESS = tuple(
        re.compile(pattern)
        for pattern in (
            r"^/[-\w/.]+$",
            r"^\d{1,4}-\d{1,2}-\d{1,2}$",
            r"^\d{1,2}:\d\d:\d\d$",
            r"^(?:19|20)\d\d$",
            r"^\d{1,8}$",
        )
    )

    def __init__(self) -> None:
        # Filled by pyTMBot's handler decorator from the Telegram objects it sees; the access
        # middleware runs before any handler, so for its records they stay as they are.
        self.secrets: set[str] = set()
        self.names: set[str] = set()
        self.user_ids: set[int] = set()
        self.chat_ids: set[int] = set()
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.RLock()

    def mask_username(self, name: str) -> str:
        name = name.strip().removeprefix("@")
        masked = _edges(name, 3, 3, 4) if name else None
        return "[MASKED_USER]" if masked is None else masked

    def mask_user_id(self, user_id: int) -> str:
        return mask_user_id(user_id, "[MASKED_ID]")

    def mask_chat_id(self, chat_id: int) -> str:
        masked = _edges(str(abs(chat_id)), 3, 4, 6)
        if masked is None:
            return "[MASKED_CHAT]"
        return "-" + masked if chat_id < 0 else masked

    def mask_secret(self, secret: str) -> str:
        if len(secret) <= 8:
            return "*" * len(secret)
        return secret[:4] + "*" * (len(secret) - 8) + secret[-4:]

    def sanitize(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        clean = text if len(text) < 4 else self._mask_patterns(self._mask_known(text))
        with self._lock:
            if len(self._cache) >= self.CACHE_SIZE:
                for _ in range(self.CACHE_SIZE // 5):
                    self._cache.popitem(last=False)
            self._cache[text] = clean
        return clean

    def _mask_known(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, self.mask_secret(secret))
        for name in sorted(self.names, key=len, reverse=True):
            for shape in (name, "@" + name):
                if shape in text:
                    text = text.replace(shape, self.mask_username(name))
        for user_id in self.user_ids:
            text = text.replace(str(user_id), self.mask_user_id(user_id))
        for chat_id in self.chat_ids:
            text = text.replace(str(chat_id), self.mask_chat_id(chat_id))
        return text

    def _harmless(self, text: str) -> bool:
        return any(pattern.match(text) for pattern in self.HARMLESS)

    def _mask_patterns(self, text: str) -> str:
        if self._harmless(text):
            return text
        for kind, pattern in self.SECRETS:
            text = pattern.sub(self._replacer(kind), text)
        return text

    def _replacer(self, kind: str) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            if self._harmless(whole):
                return whole
            inner = match.group(1) if match.re.groups else None
            if kind == "user" and inner:
                masked = self.mask_user_id(int(inner)) if inner.isdigit() else None
                return whole.replace(inner, masked or self.mask_username(inner))
            if kind == "chat" and inner:
                return whole.replace(inner, self.mask_chat_id(int(inner)))
            if whole.isdigit() and len(whole) >= 9:
                return self.mask_user_id(int(whole))
            return "*" * len(whole)

        return replace
