"""The one exception family of hostwarden.

Every error carries a stable ``code`` so that front ends can map it to a message or an exit status
without parsing text, and its ``str()`` is a single line that is safe to show to a user.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "***"
"""What :func:`scrub` puts where a secret was."""

_remembered: frozenset[str] = frozenset()


def url_password(text: str) -> str | None:
    """The password inside ``text`` when it is a URL with credentials (``scheme://u:pw@host``)."""
    try:
        password = urlsplit(text.strip()).password
    except ValueError:
        return None
    return password or None


def secret_forms(value: str) -> set[str]:
    """How ``value`` may appear in a message: as is, URL-encoded, and a URL's password."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    password = url_password(value)
    if password:
        forms |= {password, unquote(password)}
    return {form for form in forms if form}


def remember_secrets(values: Iterable[str]) -> None:
    """Make :func:`scrub` hide ``values`` from now on, replacing what was remembered before.

    The CLI calls this with every secret of the settings it loaded (see
    ``hostwarden.config.Settings.secret_values``), so that its error messages and the JSON log
    lines never show the bot token, webhook secrets, Apprise URLs, keys or database passwords.
    """
    global _remembered
    _remembered = frozenset(form for value in values for form in secret_forms(value))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every remembered secret and every one of ``secrets`` replaced by ``***``.

    Longer forms go first, so that a secret holding another one (``bot<TOKEN>`` and ``<TOKEN>``)
    is masked whole.
    """
    forms = set(_remembered)
    for value in secrets:
        forms |= secret_forms(value)
    for form in sorted(forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, MASK)
    return text


class HostwardenError(Exception):
    """Base of every error hostwarden raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class ConfigError(HostwardenError):
    """The configuration is missing, unsafe or invalid; ``problems`` holds one line each."""

    code = "config"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [str(self)]


class InvalidInput(HostwardenError):
    """A caller gave a value that cannot be used (bad name, bad code format, ...)."""

    code = "invalid_input"


class NotFound(HostwardenError):
    """The named user, session or block does not exist."""

    code = "not_found"


class Conflict(HostwardenError):
    """The change clashes with what is stored (a name taken, a factor already enrolled)."""

    code = "conflict"


class StorageError(HostwardenError):
    """The store cannot be reached or refused an operation."""

    code = "storage"


class Unavailable(HostwardenError):
    """A service hostwarden depends on (container engine, registry, release feed) did not answer."""

    code = "unavailable"
