"""The one exception family of hostwarden.

Every error carries a stable ``code`` so that front ends can map it to a message or an exit status
without parsing text, and its ``str()`` is a single line that is safe to show to a user.
"""

from __future__ import annotations


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
