"""Confirmation pages: a GET asks ("Lock user bob?"), only a POST from that page acts.

The page's form carries the usual CSRF token and a second one, ``confirm``, bound to the session
and to what is being confirmed (``lock:bob``, ``restart:web``). A POST without it, or with the
token of another question, acts on nothing: it gets the question instead. No script is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

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


def _binding(viewer: Viewer, what: str) -> str:
    return f"confirm|{viewer.session.token_hash}|{what}"


def confirm_token(console: Console, viewer: Viewer, what: str) -> str:
    """The token a confirmation page for ``what`` puts in its form."""
    return console.signer.token_for(_binding(viewer, what))


def confirmed(console: Console, viewer: Viewer, form: FormData, what: str) -> bool:
    """Whether ``form`` was posted from this session's confirmation page for ``what``."""
    return console.signer.valid(_binding(viewer, what), str(form.get("confirm") or ""))


def ask(console: Console, request: Request, viewer: Viewer, question: Question) -> Response:
    """The confirmation page for ``question`` (200; nothing has changed yet)."""
    return console.page(
        request, "confirm.html", viewer, q=question,
        confirm=confirm_token(console, viewer, question.what),
    )  # fmt: skip
