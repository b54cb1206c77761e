"""Telegram's HTML parse mode, checked the way Telegram checks it.

A message whose markup Telegram would refuse is refused here with Telegram's own error, so
tests catch an unescaped ``<`` or ``&`` before users do.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "code", "pre", "blockquote", "tg-emoji",
    }
)  # fmt: skip
_BARE_AMPERSAND = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")
_TAG_AT = re.compile(r"</?[a-zA-Z][a-zA-Z-]*(?:\s[^<>]*)?>")


class MarkupError(ValueError):
    """Telegram's "can't parse entities" refusal."""


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise MarkupError(f'Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise MarkupError(f'Unexpected end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(text: str) -> str:
    """The plain text of Telegram-HTML ``text``; raises :class:`MarkupError` like Telegram."""
    if _BARE_AMPERSAND.search(text):
        raise MarkupError("Can't find end of the entity starting at byte offset")
    for match in re.finditer("<", text):
        if not _TAG_AT.match(text, match.start()):
            raise MarkupError(f"Unsupported start tag at byte offset {match.start()}")
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.open:
        raise MarkupError(f'Can\'t find end tag corresponding to start tag "{checker.open[-1]}"')
    return "".join(checker.text)
