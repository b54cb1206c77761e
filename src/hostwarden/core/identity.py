"""Who is asking: actors (as seen by a front end), users (as stored) and roles."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from hostwarden.errors import InvalidInput


class Role(StrEnum):
    """A role grants actions; ``admin`` includes everything ``user`` may do."""

    USER = "user"
    ADMIN = "admin"

    def includes(self, other: Role) -> bool:
        """Whether holding this role satisfies a requirement of ``other``."""
        return self is other or self is Role.ADMIN


@dataclass(frozen=True, slots=True)
class Actor:
    """Whoever sent a request, as far as the front end knows them.

    ``telegram_id`` is set by the bot, ``username`` by password front ends. ``ip`` and
    ``user_agent`` are known on the web only. ``mfa_at`` is when the caller's current session
    passed a second factor, if it did.
    """

    telegram_id: int | None = None
    username: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    display_name: str | None = None
    mfa_at: datetime | None = None
    realm: str | None = None

    def lockout_keys(self) -> tuple[str, ...]:
        """The counter keys attempts by this actor are charged to.

        A Telegram @username is display text anyone can choose, not an account name, so Telegram
        actors are keyed by their ID alone: a stranger calling themselves "admin" can neither
        trip nor inherit the block of the web account "admin".

        An address-only actor with a ``realm`` (``enrol``: an agent's enrolment token) is
        counted under ``REALM:IP`` first, so guessing that credential blocks that credential
        only, not the logins from the same address; a block of ``ip:IP`` still applies to it.
        """
        keys: list[str] = []
        if self.telegram_id is not None:
            keys.append(f"tg:{self.telegram_id}")
        elif self.username is not None:
            keys.append(f"user:{self.username.casefold()}")
        if self.ip:
            if self.realm and not keys:
                keys.append(f"{self.realm}:{self.ip}")
            keys.append(f"ip:{self.ip}")
        return tuple(keys)


@dataclass(frozen=True, slots=True)
class User:
    """A stored account. Roles from the configuration are merged in by the directory."""

    id: int
    username: str
    telegram_ids: tuple[int, ...] = ()
    roles: frozenset[Role] = field(default_factory=frozenset)
    password_hash: str | None = None
    locked: bool = False
    created_at: datetime | None = None

    def has_role(self, needed: Role) -> bool:
        """Whether any of the user's roles satisfies ``needed``."""
        return needed in self.roles or Role.ADMIN in self.roles  # what Role.includes says


_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def check_username(name: str) -> str:
    """Return ``name`` if it is a valid account name, else raise :class:`InvalidInput`."""
    if not _USERNAME.match(name):
        raise InvalidInput(
            "usernames are 1-64 characters: letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def parse_roles(values: list[str] | tuple[str, ...]) -> frozenset[Role]:
    """Turn role names into roles, refusing unknown names with one clear line."""
    roles: set[Role] = set()
    for value in values:
        try:
            roles.add(Role(value.strip().lower()))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise InvalidInput(f"unknown role {value!r} (known: {known})") from None
    return frozenset(roles)
