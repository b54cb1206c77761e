"""SQL repositories for the fleet: enrolled hosts and pending enrolment tokens.

Redeeming a token is one write transaction: ``DELETE ... RETURNING`` takes the token (a row lock
on PostgreSQL, SQLite's write lock from ``BEGIN IMMEDIATE``), so of two agents presenting it at
once, in one process or two, exactly one gets a row back and stores its host; the other finds
nothing and writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from hostwarden.storage.base import AuditEvent
from hostwarden.storage.fleet import CertInfo, HostRecord, PendingEnrolment, with_url
from hostwarden.storage.sql.db import Database
from hostwarden.storage.sql.fleet_tables import fleet_enrolments, fleet_hosts
from hostwarden.storage.sql.security import _append


def _host(row: Any) -> HostRecord:
    return HostRecord(
        row.name, row.url, row.fingerprint, row.serial, row.not_after, row.enrolled_at,
        row.last_seen, row.agent_version,
    )  # fmt: skip


def _pending(row: Any) -> PendingEnrolment:
    return PendingEnrolment(row.name, row.secret_hash, row.url, row.created_at, row.expires_at)


class SqlHosts:
    """``fleet_hosts``; ``remove`` also drops the host's pending token."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, name: str) -> HostRecord | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(select(fleet_hosts).where(fleet_hosts.c.name == name))
            ).first()
        return _host(row) if row else None

    async def list(self) -> list[HostRecord]:
        async with self._db.read() as conn:
            rows = await conn.execute(select(fleet_hosts).order_by(fleet_hosts.c.name))
            return [_host(row) for row in rows]

    async def renew(
        self, name: str, expected_fingerprint: str, cert: CertInfo, event: AuditEvent | None = None
    ) -> bool:
        c = fleet_hosts.c
        statement = (
            update(fleet_hosts)
            .where(c.name == name, c.fingerprint == expected_fingerprint)
            .values(fingerprint=cert.fingerprint, serial=cert.serial, not_after=cert.not_after)
        )
        async with self._db.write() as conn:
            changed = (await conn.execute(statement)).rowcount > 0
            if changed and event is not None:
                await _append(conn, event)
        return changed

    async def seen(self, name: str, at: datetime, agent_version: str | None) -> bool:
        values: dict[str, Any] = {"last_seen": at}
        if agent_version is not None:
            values["agent_version"] = agent_version[:64]
        statement = update(fleet_hosts).where(fleet_hosts.c.name == name).values(**values)
        async with self._db.write() as conn:
            return (await conn.execute(statement)).rowcount > 0

    async def remove(self, name: str, event: AuditEvent | None = None) -> bool:
        async with self._db.write() as conn:
            token = await conn.execute(
                delete(fleet_enrolments).where(fleet_enrolments.c.name == name)
            )
            host = await conn.execute(delete(fleet_hosts).where(fleet_hosts.c.name == name))
            removed = host.rowcount > 0 or token.rowcount > 0
            if removed and event is not None:
                await _append(conn, event)
        return removed


class SqlEnrolments:
    """``fleet_enrolments``, redeemed into ``fleet_hosts`` in one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, pending: PendingEnrolment, now: datetime) -> None:
        c = fleet_enrolments.c
        values = {
            "name": pending.name,
            "secret_hash": pending.secret_hash,
            "url": pending.url,
            "created_at": pending.created_at,
            "expires_at": pending.expires_at,
        }
        async with self._db.write() as conn:
            await conn.execute(delete(fleet_enrolments).where(c.expires_at <= now))
            await conn.execute(self._db.upsert(fleet_enrolments, values, ["name"]))

    async def redeem(
        self,
        secret_hash: str,
        name: str,
        now: datetime,
        cert: CertInfo,
        event: AuditEvent | None = None,
    ) -> HostRecord | None:
        c = fleet_enrolments.c
        take = (
            delete(fleet_enrolments)
            .where(c.secret_hash == secret_hash, c.name == name, c.expires_at > now)
            .returning(c.url)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(take)).first()
            if row is None:
                return None
            host = HostRecord(
                name, row.url, cert.fingerprint, cert.serial, cert.not_after, enrolled_at=now
            )
            values = {
                "name": host.name,
                "url": host.url,
                "fingerprint": host.fingerprint,
                "serial": host.serial,
                "not_after": host.not_after,
                "enrolled_at": host.enrolled_at,
                "last_seen": None,
                "agent_version": None,
            }
            await conn.execute(self._db.upsert(fleet_hosts, values, ["name"]))
            if event is not None:
                await _append(conn, with_url(event, host.url))
        return host

    async def pending(self, now: datetime) -> list[PendingEnrolment]:
        c = fleet_enrolments.c
        query = select(fleet_enrolments).where(c.expires_at > now).order_by(c.name)
        async with self._db.read() as conn:
            return [_pending(row) for row in await conn.execute(query)]
