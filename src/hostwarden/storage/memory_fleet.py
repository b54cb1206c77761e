"""The memory store's fleet: hosts and pending enrolment tokens in dicts.

Each method runs without awaiting in between, so on one event loop every call is atomic (a token
redeemed by two agents at once works for one).
"""

from __future__ import annotations

import dataclasses
import hmac
from datetime import datetime
from typing import TYPE_CHECKING

from hostwarden.storage.base import AuditEvent
from hostwarden.storage.fleet import CertInfo, HostRecord, PendingEnrolment, with_url

if TYPE_CHECKING:
    from hostwarden.storage.memory import MemoryAudit


class MemoryHosts:
    """Enrolled hosts by name; pending tokens live in :class:`MemoryEnrolments`."""

    def __init__(self, audit: MemoryAudit | None = None) -> None:
        self.rows: dict[str, HostRecord] = {}
        self.pending: dict[str, PendingEnrolment] = {}
        self.audit = audit

    def record(self, event: AuditEvent | None) -> None:
        """Append ``event`` in the same step as the change (no await in between)."""
        if event is not None and self.audit is not None:
            self.audit.add(event)

    async def get(self, name: str) -> HostRecord | None:
        return self.rows.get(name)

    async def list(self) -> list[HostRecord]:
        return sorted(self.rows.values(), key=lambda h: h.name)

    async def renew(
        self, name: str, expected_fingerprint: str, cert: CertInfo, event: AuditEvent | None = None
    ) -> bool:
        row = self.rows.get(name)
        if row is None or row.fingerprint != expected_fingerprint:
            return False
        self.rows[name] = dataclasses.replace(
            row, fingerprint=cert.fingerprint, serial=cert.serial, not_after=cert.not_after
        )
        self.record(event)
        return True

    async def seen(self, name: str, at: datetime, agent_version: str | None) -> bool:
        row = self.rows.get(name)
        if row is None:
            return False
        version = agent_version[:64] if agent_version is not None else row.agent_version
        self.rows[name] = dataclasses.replace(row, last_seen=at, agent_version=version)
        return True

    async def remove(self, name: str, event: AuditEvent | None = None) -> bool:
        had_token = self.pending.pop(name, None) is not None
        removed = self.rows.pop(name, None) is not None or had_token
        if removed:
            self.record(event)
        return removed


class MemoryEnrolments:
    """Pending tokens by host name, redeemed into ``hosts`` in one step."""

    def __init__(self, hosts: MemoryHosts) -> None:
        self._hosts = hosts

    async def put(self, pending: PendingEnrolment, now: datetime) -> None:
        tokens = self._hosts.pending
        for name in [n for n, p in tokens.items() if p.expires_at <= now]:
            del tokens[name]
        tokens[pending.name] = pending

    async def redeem(
        self,
        secret_hash: str,
        name: str,
        now: datetime,
        cert: CertInfo,
        event: AuditEvent | None = None,
    ) -> HostRecord | None:
        pending = self._hosts.pending.get(name)
        if pending is None or pending.expires_at <= now:
            return None
        if not hmac.compare_digest(pending.secret_hash.encode(), secret_hash.encode()):
            return None
        del self._hosts.pending[name]
        host = HostRecord(
            name, pending.url, cert.fingerprint, cert.serial, cert.not_after, enrolled_at=now
        )
        self._hosts.rows[name] = host
        if event is not None:
            self._hosts.record(with_url(event, host.url))
        return host

    async def pending(self, now: datetime) -> list[PendingEnrolment]:
        live = [p for p in self._hosts.pending.values() if p.expires_at > now]
        return sorted(live, key=lambda p: p.name)
