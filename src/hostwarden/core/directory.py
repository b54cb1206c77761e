"""Finding the user behind an actor: the store's accounts plus the configuration's allow-lists."""

from __future__ import annotations

import dataclasses

from hostwarden.core.identity import Actor, Role, User
from hostwarden.core.settings import AccessSettings
from hostwarden.errors import Conflict
from hostwarden.storage.base import UserStore

RESOLVED_ENTRIES = 1024  # accounts resolved recently, remembered per object


class Directory:
    """Resolves actors to users. A user without any role counts as unknown."""

    def __init__(self, users: UserStore, access: AccessSettings) -> None:
        self._users = users
        self._admins = frozenset(access.admin_telegram_ids)
        self._allowed = frozenset(access.allowed_telegram_ids) | self._admins
        self._resolved: dict[int, tuple[User, User | None]] = {}

    def config_roles(self, telegram_id: int) -> frozenset[Role]:
        """Roles the configuration grants to a Telegram ID."""
        if telegram_id in self._admins:
            return frozenset({Role.ADMIN, Role.USER})
        if telegram_id in self._allowed:
            return frozenset({Role.USER})
        return frozenset()

    async def resolve(self, actor: Actor) -> User | None:
        """The known user behind ``actor``, with config roles merged in; ``None`` if unknown."""
        user: User | None = None
        if actor.telegram_id is not None:
            user = await self._users.by_telegram_id(actor.telegram_id)
            if user is None and self.config_roles(actor.telegram_id):
                user = await self._materialise(actor.telegram_id)
        elif actor.username is not None:
            user = await self._users.get(actor.username)
        return self.resolve_user(user) if user is not None else None

    def resolve_user(self, user: User) -> User | None:
        """``user`` plus the roles the config grants its Telegram IDs; ``None`` if role-less."""
        # Stores that cache accounts hand the same object to every decision: resolve it once.
        # The entry holds ``user`` itself, so its id cannot be reused while the entry lives.
        found = self._resolved.get(id(user))
        if found is not None and found[0] is user:
            return found[1]
        if len(self._resolved) >= RESOLVED_ENTRIES:
            self._resolved.clear()
        resolved = self._resolve(user)
        self._resolved[id(user)] = (user, resolved)
        return resolved

    def _resolve(self, user: User) -> User | None:
        roles = user.roles
        for telegram_id in user.telegram_ids:
            roles |= self.config_roles(telegram_id)
        if not roles:
            return None
        return user if roles == user.roles else dataclasses.replace(user, roles=roles)

    async def _materialise(self, telegram_id: int) -> User | None:
        # Config-declared IDs get a stored account on first contact, so that they can hold a
        # TOTP factor and sessions; their roles keep coming from the configuration alone.
        for suffix in ("", "-1", "-2", "-3"):
            try:
                return await self._users.create(
                    User(id=0, username=f"tg{telegram_id}{suffix}", telegram_ids=(telegram_id,))
                )
            except Conflict:
                # Another process created it meanwhile, or an admin took the name: look again.
                found = await self._users.by_telegram_id(telegram_id)
                if found is not None:
                    return found
        return None
