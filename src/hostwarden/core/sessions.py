"""Sessions: opaque random tokens (only their hash is stored), timeouts, rotation and binding."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hostwarden.core.alerts import Alert, AlertOutbox
from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import Clock
from hostwarden.core.settings import BindingPolicy, SessionSettings
from hostwarden.storage.base import SessionRecord, SessionStore


def hash_token(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh session token with 256 bits from the OS's CSPRNG."""
    return secrets.token_urlsafe(32)


def same_network(first: str | None, second: str | None) -> bool:
    """Whether two addresses share a /24 (IPv4) or /64 (IPv6)."""
    if first == second:
        return True
    try:
        a, b = ipaddress.ip_address(first or ""), ipaddress.ip_address(second or "")
    except ValueError:
        return False
    if a.version != b.version:
        return False
    prefix = 24 if a.version == 4 else 64
    return b in ipaddress.ip_network(f"{a}/{prefix}", strict=False)


@dataclass(frozen=True, slots=True)
class Session:
    """A live session as the caller sees it: the token plus what is stored."""

    token: str
    record: SessionRecord


class SessionManager:
    """Creates, validates, rotates and ends sessions."""

    def __init__(
        self,
        store: SessionStore,
        audit: AuditTrail,
        alerts: AlertOutbox,
        clock: Clock,
        settings: SessionSettings,
    ) -> None:
        self._store = store
        self._audit = audit
        self._alerts = alerts
        self._clock = clock
        self._settings = settings

    async def create(
        self, user_id: int, ip: str | None, user_agent: str | None, mfa: bool = False
    ) -> Session:
        """Open a session with a brand-new token."""
        now = self._clock.now()
        token = new_token()
        record = SessionRecord(
            hash_token(token), user_id, now, now, ip, user_agent, now if mfa else None
        )
        await self._store.put(record)
        return Session(token, record)

    def limits(self, now: datetime) -> tuple[datetime, datetime]:
        """A session is live at ``now`` if last seen after the first, created after the second."""
        idle_after = now - timedelta(seconds=self._settings.idle_seconds)
        created_after = now - timedelta(seconds=self._settings.absolute_seconds)
        return idle_after, created_after

    async def validate(
        self, token: str, ip: str | None, user_agent: str | None, who: str = ""
    ) -> SessionRecord | None:
        """The session for ``token`` if it is live and bound to this client, else ``None``.

        A binding mismatch ends the session, is audited and raises an alert.
        """
        if not token:
            return None
        now = self._clock.now()
        idle_after, created_after = self.limits(now)
        record = await self._store.touch(hash_token(token), now, idle_after, created_after)
        if record is None:
            return None
        if not self.bound(record, ip, user_agent):
            await self.mismatch(record, ip, who)
            return None
        return record

    async def mismatch(self, record: SessionRecord, ip: str | None, who: str = "") -> None:
        """End a session used from another address or browser; audit it and raise an alert."""
        await self._store.delete(record.token_hash)
        await self._audit.record(
            Kind.SESSION_BINDING_MISMATCH,
            actor=f"ip:{ip}" if ip else "",
            subject=who or f"uid:{record.user_id}",
            session=record.handle,
        )
        await self._alerts.raise_alert(
            Alert(
                "session",
                "Session used from another address or browser; it was ended",
                self._clock.now(),
                username=who.partition(":")[2] or None,
            )
        )

    def bound(self, record: SessionRecord, ip: str | None, user_agent: str | None) -> bool:
        """Whether ``record`` is bound to this client under the binding policy."""
        policy = self._settings.binding
        if policy is BindingPolicy.OFF:
            return True
        if (record.user_agent or "") != (user_agent or ""):
            return False
        if policy is BindingPolicy.STRICT:
            return (record.ip or "") == (ip or "")
        return same_network(record.ip, ip)

    async def live(self, token: str) -> SessionRecord | None:
        """The session for ``token`` if it has not timed out (no binding check); renews it."""
        if not token:
            return None
        now = self._clock.now()
        return await self._store.touch(hash_token(token), now, *self.limits(now))

    async def rotate(self, token: str, mfa: bool = False) -> Session | None:
        """Replace a session's token (after a privilege step); the old token stops working."""
        old_hash = hash_token(token)
        now = self._clock.now()
        current = await self._store.touch(old_hash, now, *self.limits(now))
        if current is None:
            return None
        fresh = new_token()
        record = replace(
            current, token_hash=hash_token(fresh), mfa_at=now if mfa else current.mfa_at
        )
        await self._store.put(record)
        await self._store.delete(old_hash)
        return Session(fresh, record)

    async def end(self, token: str) -> bool:
        """Log out: forget the session."""
        return await self._store.delete(hash_token(token)) > 0

    async def revoke(self, handle: str, actor: str, user_id: int | None = None) -> int:
        """End sessions whose public handle is ``handle`` (optionally only the user's)."""
        if len(handle) < 8:
            return 0
        count = await self._store.delete(handle.lower(), user_id)
        if count:
            await self._audit.record(Kind.SESSION_REVOKED, actor=actor, session=handle[:12])
        return count

    async def revoke_user(self, user_id: int, actor: str) -> int:
        """End all of a user's sessions."""
        count = await self._store.delete("", user_id)
        await self._audit.record(
            Kind.SESSION_REVOKED, actor=actor, subject=f"uid:{user_id}", count=count
        )
        return count

    async def list(self, user_id: int | None = None) -> list[SessionRecord]:
        """Sessions not yet purged, oldest first."""
        return await self._store.list(user_id)

    async def clear_expired_sessions(self) -> int:
        """Delete idle or too-old sessions; run at start and periodically."""
        idle_after, created_after = self.limits(self._clock.now())
        return await self._store.purge(idle_after, created_after)

    def mfa_fresh(self, mfa_at: datetime | None) -> bool:
        """Whether a second factor passed at ``mfa_at`` still covers critical actions."""
        if mfa_at is None:
            return False
        return self._clock.now() - mfa_at <= timedelta(seconds=self._settings.mfa_fresh_seconds)
