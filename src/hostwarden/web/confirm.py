"""Confirmation pages: a GET asks ("Lock user bob?"), only a POST from that page acts.

The page's form carries the usual CSRF token and a second one, ``confirm``, bound to the session,
to what is being confirmed (``lock:bob``, ``restart:web``) and to when the page was shown; it is
good for two minutes, and once: the first POST that uses it records it in the store's pending
entries, so a second POST of the same page (a double click, a replay, or the same form sent to
another console replica) acts on nothing. A POST without it, with the token of another question,
or too late, acts on nothing: it gets the question instead. No script is needed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from hostwarden.storage.pending import Pending
from hostwarden.web.console import Console
from hostwarden.web.viewer import Viewer


@dataclass(frozen=True, slots=True)
class Question:
    """What a confirmation page shows and where its form posts.

    ``what`` names the change for the confirmation token (the verb and its target); ``facts``
    are (label, value) rows shown under the question; ``fields`` are hidden form fields.
    """

    title: str
    what: str
    action: str
    button: str
    back: str
    facts: tuple[tuple[str, str], ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    danger: bool = True


CONFIRM_SECONDS = 120  # as long as the bot's confirmation buttons live
USED = "web-confirm"  # the pending entries' kind for questions already answered


def _binding(viewer: Viewer, what: str, asked: int) -> str:
    return f"confirm|{viewer.session.token_hash}|{what}|{asked}"


def _now(console: Console) -> int:
    return int(console.core.clock.now().timestamp())


def confirm_token(console: Console, viewer: Viewer, what: str, asked: int) -> str:
    """The token a confirmation page for ``what``, shown at ``asked``, puts in its form."""
    return console.signer.token_for(_binding(viewer, what, asked))


async def confirmed(console: Console, viewer: Viewer, form: FormData, what: str) -> bool:
    """Whether ``form`` was posted from this session's page for ``what`` in the last 2 min,
    and is the first POST of that page (the store remembers it until the token's deadline)."""
    asked_text = str(form.get("asked") or "")
    if not asked_text.isascii() or not asked_text.isdigit() or len(asked_text) > 12:
        return False
    asked = int(asked_text)
    if not 0 <= _now(console) - asked <= CONFIRM_SECONDS:
        return False
    token = str(form.get("confirm") or "")
    if not console.signer.valid(_binding(viewer, what, asked), token):
        return False
    used = hashlib.sha256(token.encode("ascii")).hexdigest()  # the token itself is not kept
    deadline = datetime.fromtimestamp(asked, UTC) + timedelta(seconds=CONFIRM_SECONDS + 1)
    entry = Pending(USED, used, viewer.session.handle, what[:200], deadline)
    return await console.core.store.pending.create(entry, console.core.clock.now())


def ask(console: Console, request: Request, viewer: Viewer, question: Question) -> Response:
    """The confirmation page for ``question`` (200; nothing has changed yet)."""
    asked = _now(console)
    return console.page(
        request, "confirm.html", viewer, q=question, asked=asked,
        confirm=confirm_token(console, viewer, question.what, asked),
    )  # fmt: skip
