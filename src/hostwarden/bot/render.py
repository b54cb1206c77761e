"""Jinja2 templates for Telegram HTML. Autoescaping is on: every value is text, never markup."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from hostwarden.containers.redact import mask_secrets
from hostwarden.core.audit import masked_ref
from hostwarden.units import human_duration, human_size

MESSAGE_LIMIT = 4096
_TAG = re.compile(r"<[^>]+>")


def bar(percent: float, width: int = 10) -> str:
    """A text gauge: ``▓▓▓░░░░░░░``."""
    filled = round(max(0.0, min(percent, 100.0)) / 100 * width)
    return "▓" * filled + "░" * (width - filled)


def clip_html(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` if it fits one message; otherwise its plain text, escaped and cut to fit."""
    if len(text) <= limit:
        return text
    plain = html.unescape(_TAG.sub("", text))
    cut = plain[: limit - 200]
    return html.escape(cut) + "\n… (cut to fit one message)"


def _masked(ref: str) -> Markup:
    # masked_ref's output is already HTML-escaped; mark it so autoescape does not escape twice.
    return Markup(masked_ref(str(ref)))  # noqa: S704


def host_header(host: str) -> str:
    """The first line of every view: which host it is about (``monitor.host_label``)."""
    return f"🖥 <i>{html.escape(host)}</i>"


class Renderer:
    """Renders ``templates/<name>.html.j2`` with the helpers above; ``now`` is for ages.

    Every view starts with :func:`host_header` for :attr:`host` (when set), and templates
    see it as ``host``, so several bots in one chat can be told apart.
    """

    def __init__(self, host: str = "") -> None:
        self._env = Environment(
            loader=PackageLoader("hostwarden.bot", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self._env.filters.update(
            size=human_size,
            duration=human_duration,
            bar=bar,
            ago=self._ago,
            ref=_masked,
            ref_ip=lambda ip: _masked(f"ip:{ip}") if ip else "-",
            secrets=mask_secrets,
        )
        self.host = host

    @property
    def host(self) -> str:
        """The host label every view names."""
        return str(self._env.globals["host"])

    @host.setter
    def host(self, value: str) -> None:
        self._env.globals["host"] = value

    @staticmethod
    def _ago(value: datetime | None, now: datetime | None = None) -> str:
        if value is None:
            return "-"
        now = now or datetime.now(UTC)
        return human_duration((now - value).total_seconds())

    def render(self, template: str, /, **values: Any) -> str:
        """The template's output, clipped to one Telegram message.

        A ``host`` value (a fleet host's name) replaces :attr:`host` in the header and templates.
        """
        text = self._env.get_template(f"{template}.html.j2").render(**values).strip()
        host = str(values.get("host", self.host))
        if not host:
            return clip_html(text)
        header = host_header(host)
        return f"{header}\n{clip_html(text, MESSAGE_LIMIT - len(header) - 1)}"
