"""Template filters: sizes, durations, identities (masked unless revealed), readable labels and
values (:func:`shown`)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape
from pydantic import BaseModel, SecretBytes, SecretStr

from hostwarden.containers.redact import mask_secrets
from hostwarden.core.audit import masked_ref
from hostwarden.core.masking import mask_user_id
from hostwarden.units import human_duration, human_size
from hostwarden.web.labels import alert_label, kind_label


def since(value: datetime | None, now: datetime) -> str:
    """How long ago ``value`` was, as a duration ('-' when unknown)."""
    return "-" if value is None else human_duration((now - value).total_seconds())


def visible(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` with control, format (bidi) and separator characters as ``?``."""
    return "".join(
        c if c == " " or unicodedata.category(c)[0] not in ("C", "Z") else "?" for c in text[:limit]
    )


def ref(value: Any, full: bool = False) -> Markup:
    """An audit reference (``tg:42``, ``user:alice``, ``ip:...``): masked unless ``full``."""
    if not value:
        return Markup("")
    text = str(value)
    # masked_ref's output is already escaped: mark it so that autoescape does not double it.
    return escape(visible(text)) if full else Markup(masked_ref(text))  # noqa: S704


def telegram_id(value: Any, full: bool = False) -> str:
    """A Telegram ID: masked unless ``full``."""
    return str(value) if full else mask_user_id(value)


HIDDEN, NOT_SET, NONE = "(hidden)", "(not set)", "(none)"


def shown(value: object) -> str:
    """A setting's or an audit detail's value as text an admin reads: ``true``, lists joined
    with commas, secrets ``(hidden)``, never a Python repr."""
    if isinstance(value, SecretStr | SecretBytes):
        return HIDDEN if value.get_secret_value() else NOT_SET
    if value is None:
        return NOT_SET
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str | int | float | PurePath | datetime):
        return str(value)
    if isinstance(value, Mapping):
        items = [f"{shown(key)}: {shown(item)}" for key, item in value.items()]
        return ", ".join(items) if items else NONE
    if isinstance(value, list | tuple | set | frozenset):
        secrets = [item for item in value if isinstance(item, SecretStr | SecretBytes)]
        if secrets:
            return f"({len(value)} hidden)"
        items = [shown(item) for item in value]
        return ", ".join(sorted(items) if isinstance(value, set | frozenset) else items) or NONE
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return "; ".join(f"{key}: {shown(getattr(value, key))}" for key in fields) or NONE
    text = str(value)  # addresses, networks: their str() is their usual spelling
    return HIDDEN if "Secret" in text or " object at 0x" in text else text


def install(env: Environment) -> None:
    """Register the filters on a Jinja2 environment."""
    env.filters.update(
        size=human_size,
        duration=human_duration,
        since=since,
        ref=ref,
        tgid=telegram_id,
        kind_label=kind_label,
        alert_label=alert_label,
        secrets_masked=mask_secrets,
        shown=shown,
    )
