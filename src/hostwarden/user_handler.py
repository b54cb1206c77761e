"""Seed 003's ``user_handler`` API, synchronous, over hostwarden's core.

A drop-in for code written against ``user_handler.py``, without its defects: the new session ID
is kept (``is_logged_in()`` is true right after login), sessions expire and are bound to IP and
user agent, failures are counted atomically, unknown users cost as much time as known ones,
``reset_failed_attempts`` re-enables the account, and nothing secret is printed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from hostwarden.core.identity import Role
from hostwarden.core.passwords import PasswordHasher
from hostwarden.core.service import AccessCore, CoreSettings
from hostwarden.core.sessions import new_token
from hostwarden.core.settings import LockoutSettings
from hostwarden.errors import Conflict, InvalidInput, NotFound
from hostwarden.storage.sql import SqlStore

__all__ = ["Database", "Security", "UserHandler"]

T = TypeVar("T")
_hasher: PasswordHasher | None = None


def _shared_hasher() -> PasswordHasher:
    global _hasher
    if _hasher is None:
        _hasher = PasswordHasher()
    return _hasher


class Database:
    """A store opened from a SQLAlchemy URL or a plain SQLite file path."""

    def __init__(self, url: str = "users.db") -> None:
        self.url = url
        self.store = SqlStore(url)
        self._runner = asyncio.Runner()
        self._lock = threading.Lock()
        self._ready = False

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this database's own event loop (thread-safe)."""
        with self._lock:
            return self._runner.run(coro)

    def setup_tables(self) -> None:
        """Create or upgrade the schema (Alembic migrations)."""
        self.run(self.store.start())
        self._ready = True

    def close(self) -> None:
        """Close connections and the event loop."""
        self.run(self.store.close())
        self._runner.close()


class Security:
    """Password hashing (argon2id) and session ID generation."""

    @staticmethod
    def hash_password(password: str) -> str:
        return _shared_hasher().hash(password)

    @staticmethod
    def verify_password(password: str, hashed: str) -> bool:
        """Also accepts seed 003's ``$pbkdf2-sha256$`` hashes."""
        return _shared_hasher().verify(password, hashed)[0]

    @staticmethod
    def regenerate_session(session_id: str | None = None) -> str:
        """A new random session ID (256 bits); the old one is simply no longer used."""
        return new_token()


class UserHandler:
    """Login state for one client, as in seed 003."""

    def __init__(self, db: Database, max_failed_attempts: int = 5) -> None:
        if not db._ready:
            db.setup_tables()
        self._db = db
        settings = CoreSettings(lockout=LockoutSettings(password_max_failures=max_failed_attempts))
        self._core = AccessCore(db.store, settings, hasher=_shared_hasher())
        self._session_id: str | None = None
        self._username: str | None = None

    @property
    def session_id(self) -> str | None:
        """The current session's ID, or ``None`` when logged out."""
        return self._session_id

    def register(self, username: str, password: str, is_admin: bool = False) -> bool:
        """Create an account; ``False`` if the name is taken or invalid."""
        roles = frozenset({Role.ADMIN, Role.USER}) if is_admin else frozenset({Role.USER})
        try:
            self._db.run(self._core.accounts.register(username, password, roles))
        except (Conflict, InvalidInput):
            return False
        return True

    def login(self, username: str, password: str, request_data: Mapping[str, Any]) -> bool:
        """Check the password; on success a brand-new session is bound to this IP and agent."""
        result = self._db.run(
            self._core.accounts.login(
                username,
                password,
                _field(request_data, "ip_address"),
                _field(request_data, "user_agent"),
            )
        )
        if not result.ok or result.session is None:
            return False
        self._session_id = result.session.token
        self._username = result.user.username if result.user else username
        return True

    def logout(self) -> bool:
        """End the session; ``False`` if there was none."""
        if self._session_id is None:
            return False
        token, self._session_id, who = self._session_id, None, self._username
        self._username = None
        return self._db.run(self._core.accounts.logout(token, f"user:{who}"))

    def is_logged_in(self) -> bool:
        """Whether the session exists and has not timed out."""
        if self._session_id is None:
            return False
        return self._db.run(self._core.sessions.live(self._session_id)) is not None

    def is_admin(self) -> bool:
        """Whether the logged-in user holds the admin role now."""
        if self._username is None or not self.is_logged_in():
            return False
        user = self._db.run(self._core.store.users.get(self._username))
        return user is not None and not user.locked and user.has_role(Role.ADMIN)

    def validate_session(self, request_data: Mapping[str, Any]) -> bool:
        """Whether the session is live and used from the same IP and user agent."""
        if self._session_id is None:
            return False
        record = self._db.run(
            self._core.sessions.validate(
                self._session_id,
                _field(request_data, "ip_address"),
                _field(request_data, "user_agent"),
                f"user:{self._username}",
            )
        )
        if record is None:
            self._session_id = None
            return False
        return True

    def lock_account(self, username: str) -> bool:
        """Lock an account by hand; ``False`` if there is no such user."""
        return self._admin(self._core.accounts.lock(username, "api:user_handler"))

    def reset_failed_attempts(self, username: str) -> bool:
        """Clear failures and blocks and re-enable the account."""
        return self._admin(self._core.accounts.unlock(username, "api:user_handler"))

    def increment_failed_attempts(self, username: str) -> int:
        """Count one failure; the account is blocked when the limit is reached."""
        return self._db.run(self._core.accounts.count_failure(username))

    def _admin(self, coro: Coroutine[Any, Any, None]) -> bool:
        try:
            self._db.run(coro)
        except NotFound:
            return False
        return True


def _field(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name) if isinstance(data, Mapping) else None
    return str(value) if value is not None else None
