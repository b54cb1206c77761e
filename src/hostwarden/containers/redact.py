"""Making engine output safe to show: ANSI escapes stripped, secrets masked."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SECRET_WORDS = (
    r"(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth|credential"
    r"|private[_-]?key)"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer xyz / Basic xyz
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@"), r"\1:***@"),
    # key=value, key: value, "key": "value" where the key names a secret
    (
        re.compile(rf"""(?ix)(\b[\w.-]*{_SECRET_WORDS}[\w.-]*["']?\s*[:=]\s*["']?)([^\s"',;&]+)"""),
        r"\1***",
    ),
    # Telegram bot tokens
    (re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}"), "***bot-token***"),
    # AWS access key IDs and GitHub tokens
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "***aws-key***"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), "***github-token***"),
)


def strip_ansi(text: str) -> str:
    """Remove colour codes and other escapes, and control characters other than tab and newline."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def mask_secrets(text: str) -> str:
    """Replace values that look like credentials with ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def clean_log(text: str) -> str:
    """What ``/logs`` shows: no escapes, no control characters, no secrets."""
    return mask_secrets(strip_ansi(text))
