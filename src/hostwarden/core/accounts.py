"""Password accounts: register, login, second factor, logout, lock, unlock and remove.

Unknown user, wrong password and locked account give one answer and take the same time: every
path checks one password hash (a dummy for unknown users) and charges one counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass

from hostwarden.core.alerts import Alert, AlertOutbox
from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import Clock
from hostwarden.core.identity import Role, User, check_username
from hostwarden.core.lockout import Lockout
from hostwarden.core.passwords import PasswordHasher
from hostwarden.core.sessions import Session, SessionManager
from hostwarden.core.totp import TotpOutcome, TotpService
from hostwarden.errors import Conflict, InvalidInput, NotFound
from hostwarden.storage.base import UserStore

LOGIN_FAILED = "Incorrect username or password."


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The outcome of a password check. On failure only ``message`` is meaningful."""

    ok: bool
    message: str = LOGIN_FAILED
    user: User | None = None
    session: Session | None = None
    needs_totp: bool = False


def user_key(username: str) -> str:
    """The lockout key of an account name."""
    return f"user:{username.casefold()}"


class Accounts:
    """Account management over the store."""

    def __init__(
        self,
        users: UserStore,
        hasher: PasswordHasher,
        lockout: Lockout,
        sessions: SessionManager,
        totp: TotpService,
        alerts: AlertOutbox,
        audit: AuditTrail,
        clock: Clock,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._lockout = lockout
        self._sessions = sessions
        self._totp = totp
        self._alerts = alerts
        self._audit = audit
        self._clock = clock

    async def get(self, username: str) -> User:
        """The stored user, or :class:`NotFound`."""
        user = await self._users.get(username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        return user

    async def register(
        self,
        username: str,
        password: str | None = None,
        roles: frozenset[Role] = frozenset({Role.USER}),
        telegram_ids: tuple[int, ...] = (),
        actor: str = "",
    ) -> User:
        """Create an account; the password is hashed with argon2id."""
        check_username(username)
        password_hash = None
        if password is not None:
            self._hasher.check_policy(password)
            password_hash = await asyncio.to_thread(self._hasher.hash, password)
        user = await self._users.create(
            User(0, username, tuple(telegram_ids), roles, password_hash, False, self._clock.now())
        )
        await self._audit.record(
            Kind.ACCOUNT_CREATED,
            actor=actor,
            subject=f"user:{username}",
            roles=sorted(r.value for r in roles),
        )
        return user

    async def update(
        self,
        user: User,
        actor: str,
        roles: frozenset[Role] | None = None,
        telegram_ids: tuple[int, ...] | None = None,
    ) -> User:
        """Change roles or Telegram IDs; audited with who did it."""
        changed = dataclasses.replace(
            user,
            roles=user.roles if roles is None else roles,
            telegram_ids=user.telegram_ids if telegram_ids is None else telegram_ids,
        )
        updated = await self._users.update(changed)
        fields = [
            name
            for name, value in (("roles", roles), ("telegram_ids", telegram_ids))
            if value is not None
        ]
        await self._audit.record(
            Kind.ACCOUNT_UPDATED, actor=actor, subject=f"user:{user.username}", fields=fields
        )
        return updated

    async def remove(self, username: str, actor: str, force: bool = False) -> User:
        """Delete an account with its Telegram IDs, sessions, second factor and grants; audited.

        Removing the last unlocked admin account raises :class:`Conflict` (nobody could
        administer hostwarden after it) unless ``force`` is given.
        """
        user = await self.get(username)
        last_admin = Role.ADMIN in user.roles and not any(
            Role.ADMIN in other.roles and not other.locked and other.id != user.id
            for other in await self._users.list()
        )
        if last_admin and not force:
            raise Conflict(f"{user.username!r} is the last admin account; removing it leaves none")
        if not await self._users.delete(user.id):
            raise NotFound(f"no user {username!r}")
        await self._audit.record(
            Kind.ACCOUNT_REMOVED,
            actor=actor,
            subject=f"user:{user.username}",
            roles=sorted(r.value for r in user.roles),
            forced=last_admin,
        )
        return user

    async def login(
        self, username: str, password: str, ip: str | None = None, user_agent: str | None = None
    ) -> LoginResult:
        """Check a password; on success open a fresh session (TOTP may still be needed)."""
        try:
            user = await self._users.get(check_username(username))
        except InvalidInput:
            user = None
        stored = user.password_hash if user is not None else None
        ok, new_hash = await asyncio.to_thread(self._hasher.verify, password, stored)
        name_key = user_key(username)
        keys = (name_key, f"ip:{ip}") if ip else (name_key,)
        # Checked on every path, needed or not, so that all refusals cost the same (_refuse).
        block = await self._lockout.blocked(keys)
        refusal = None
        if ok and user is not None:
            refusal = "locked" if user.locked else ("blocked" if block is not None else None)
        if not ok or refusal is not None:
            await self._refuse(username, user is not None, refusal, ip)
            return LoginResult(False)
        assert user is not None  # ok is only true for a stored hash
        if new_hash is not None:
            user = await self._users.update(dataclasses.replace(user, password_hash=new_hash))
            await self._audit.record(Kind.PASSWORD_REHASHED, subject=f"user:{username}")
        await self._lockout.clear(name_key)
        needs_totp = await self._totp.is_enrolled(user)
        session = await self._sessions.create(user.id, ip, user_agent)
        await self._audit.record(
            Kind.LOGIN_SUCCEEDED,
            actor=f"ip:{ip}" if ip else "",
            subject=f"user:{username}",
            session=session.record.handle,
        )
        return LoginResult(True, "", user, session, needs_totp)

    async def _refuse(
        self, username: str, known: bool, refusal: str | None, ip: str | None
    ) -> None:
        # Every refusal walks the same path (one hash before this, two counter calls, one audit
        # event), so that its timing tells nothing about why it was refused.
        subject, actor = f"user:{username}", f"ip:{ip}" if ip else ""
        hit = await self._lockout.hit(user_key(username), self._lockout.password_rule)
        ip_hit = await self._lockout.hit(f"ip:{ip}", self._lockout.ip_rule) if ip else None
        if refusal is None and hit.counted:
            await self._audit.record(
                Kind.LOGIN_FAILED, actor=actor, subject=subject, attempt=hit.count, known=known
            )
        else:
            await self._audit.record(
                Kind.LOGIN_REFUSED, actor=actor, subject=subject, reason=refusal or "blocked"
            )
        now = self._clock.now()
        if hit.newly_blocked:
            title = "Account blocked after repeated failed logins"
            await self._alerts.raise_alert(
                Alert("blocked", title, now, username=username, attempt=hit.count, attempts_left=0)
            )
        if ip_hit is not None and ip_hit.newly_blocked:
            title = f"Address {ip} blocked after {ip_hit.count} failed logins"
            await self._alerts.raise_alert(Alert("blocked", title, now))

    async def second_factor(
        self, user: User, token: str, code: str, recovery: bool = False
    ) -> tuple[TotpOutcome, Session | None]:
        """Check a TOTP (or recovery) code for a logged-in session; success rotates the token."""
        if recovery:
            outcome = await self._totp.use_recovery_code(user, code)
        else:
            outcome = await self._totp.verify(user, code)
        if outcome is not TotpOutcome.ACCEPTED:
            return outcome, None
        return outcome, await self._sessions.rotate(token, mfa=True)

    async def logout(self, token: str, who: str = "") -> bool:
        """End the session of ``token``."""
        ended = await self._sessions.end(token)
        if ended:
            await self._audit.record(Kind.LOGOUT, subject=who)
        return ended

    async def set_password(self, username: str, password: str, actor: str) -> None:
        """Replace a password (argon2id) and end the user's sessions."""
        user = await self.get(username)
        self._hasher.check_policy(password)
        new_hash = await asyncio.to_thread(self._hasher.hash, password)
        await self._users.update(dataclasses.replace(user, password_hash=new_hash))
        await self._sessions.revoke_user(user.id, actor)
        await self._audit.record(Kind.PASSWORD_CHANGED, actor=actor, subject=f"user:{username}")

    async def lock(self, username: str, actor: str) -> None:
        """Lock an account by hand and end its sessions."""
        user = await self.get(username)
        await self._users.update(dataclasses.replace(user, locked=True))
        await self._sessions.revoke_user(user.id, actor)
        await self._audit.record(Kind.ACCOUNT_LOCKED, actor=actor, subject=f"user:{username}")

    async def unlock(self, username: str, actor: str) -> None:
        """Re-enable an account: clear the lock flag, its block and its failure counter."""
        user = await self.get(username)
        await self._users.update(dataclasses.replace(user, locked=False))
        with contextlib.suppress(NotFound):
            await self._lockout.unblock(user_key(username), actor)
        await self._audit.record(Kind.ACCOUNT_UNLOCKED, actor=actor, subject=f"user:{username}")

    async def count_failure(self, username: str) -> int:
        """Count one failed attempt against an account by hand (seed 003's API)."""
        hit = await self._lockout.hit(user_key(username), self._lockout.password_rule)
        return hit.count
