"""Masking of identities for logs, alerts and messages.

Both functions are total: any value gives a string, never an exception. Their output reveals at
most ``keep`` characters at each end, never a control or formatting character, and is escaped for
Telegram HTML and web pages (``<``, ``>``, ``&`` and quotes become entities).
"""

from __future__ import annotations

import html
import unicodedata

_MAX_STARS = 8


def _safe_char(char: str) -> str:
    # Control, format (bidi overrides, zero-width) and separator characters could reorder or hide
    # text around them; show a placeholder instead.
    category = unicodedata.category(char)
    if category[0] in ("C", "Z") and char != " ":
        return "?"
    return char


def _mask(text: str, keep: int, reveal_above: int) -> str:
    chars = list(text)
    length = len(chars)
    if length <= reveal_above or keep <= 0:
        return "*" * min(max(length, 1), _MAX_STARS)
    keep = min(keep, (length - 1) // 2)
    head = "".join(_safe_char(c) for c in chars[:keep])
    tail = "".join(_safe_char(c) for c in chars[length - keep :]) if keep else ""
    stars = "*" * min(length - 2 * keep, _MAX_STARS)
    return html.escape(head + stars + tail, quote=True)


def _as_text(value: object) -> str:
    try:
        return value if isinstance(value, str) else str(value)
    except Exception:  # a hostile __str__ must not break an alert
        return ""


def mask_user_id(value: object, keep: int = 2) -> str:
    """Mask a numeric ID: ``123456789`` becomes ``12*****89``; short IDs become all stars."""
    text = _as_text(value).strip()
    return _mask(text, keep, reveal_above=2 * keep + 1)


def mask_username(value: object, keep: int = 3) -> str:
    """Mask a name: six characters or fewer become all stars, longer ones keep ``keep`` at each end.

    A leading ``@`` is kept outside the mask; ``None`` or an empty name gives ``-``.
    """
    text = _as_text(value).strip() if value is not None else ""
    prefix = ""
    if text.startswith("@"):
        prefix, text = "@", text[1:]
    if not text:
        return "-"
    return prefix + _mask(text, keep, reveal_above=6)
