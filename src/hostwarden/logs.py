"""Log lines: one JSON object per line, secrets masked (the bot, the console, the agent).

Kept apart from :mod:`hostwarden.runtime` so that a process that needs only its logs (``hostwarden
agent serve``) does not import the store, the core and their libraries.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from hostwarden.containers.redact import mask_secrets
from hostwarden.errors import scrub


class JsonFormatter(logging.Formatter):
    """One JSON object per line; audit records are already JSON and pass through as they are.

    Secrets remembered by :func:`hostwarden.errors.remember_secrets` (the loaded settings') are
    masked in every line, audit lines included.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "hostwarden.audit":
            return scrub(message)
        if record.exc_info and record.levelno >= logging.ERROR:
            message += f" ({record.exc_info[0].__name__ if record.exc_info[0] else 'error'})"
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            # Libraries may print URLs with the bot token or credentials in them.
            "msg": mask_secrets(scrub(message)),
        }
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(
    stream: TextIO | None = None,
    level: int = logging.INFO,
    extra_loggers: tuple[str, ...] = (),
) -> None:
    """Send hostwarden's logs (audit lines included) and ``extra_loggers``' to ``stream``.

    One JSON object per line, for a container log collector; secrets are masked on the way.
    """
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    for name in ("hostwarden", *extra_loggers):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
