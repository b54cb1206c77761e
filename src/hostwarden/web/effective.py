"""/settings: the effective configuration, as readable text, every secret hidden.

Values are written the way the config file spells them (``true``, lists with commas, nested
sections as ``webhook.url``), never as a Python repr: a ``SecretStr`` shows as ``(hidden)`` or
``(not set)`` wherever it sits, in a list, a mapping or a nested section.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from hostwarden.web.actions import SETTINGS
from hostwarden.web.console import Console
from hostwarden.web.format import shown


def rows(section: BaseModel, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key, text) for every field of ``section``; nested sections as ``outer.inner``."""
    for key in type(section).model_fields:
        value = getattr(section, key)
        if isinstance(value, BaseModel):
            yield from rows(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", shown(value)


async def settings_page(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, SETTINGS)
    effective = request.app.state.settings
    sections = []
    for name in type(effective).model_fields:
        section = getattr(effective, name)
        if isinstance(section, BaseModel):
            sections.append((name, list(rows(section))))
    return console.page(request, "settings.html", viewer, sections=sections)
