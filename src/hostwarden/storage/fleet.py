"""The fleet's records and store protocols: enrolled hosts and pending enrolment tokens.

An enrolment token is stored by the SHA-256 of its secret, never the secret itself. Redeeming one
is a single store step: the token goes and the host's record (with the certificate the hub just
signed) is written in the same transaction, so a token works once, for one agent, before it
expires, whatever runs concurrently in this process or another.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hostwarden.storage.base import AuditEvent


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What the hub remembers of a certificate it signed for an agent.

    ``fingerprint`` is the SHA-256 of the certificate's DER, in lowercase hex; ``serial`` is its
    serial number in lowercase hex.
    """

    fingerprint: str
    serial: str
    not_after: datetime


@dataclass(frozen=True, slots=True)
class HostRecord:
    """An enrolled agent's host: where the hub reaches it and the certificate it must show."""

    name: str
    url: str | None
    fingerprint: str
    serial: str
    not_after: datetime
    enrolled_at: datetime
    last_seen: datetime | None = None
    agent_version: str | None = None

    @property
    def cert(self) -> CertInfo:
        """The certificate fields alone."""
        return CertInfo(self.fingerprint, self.serial, self.not_after)


@dataclass(frozen=True, slots=True)
class PendingEnrolment:
    """An enrolment token waiting for its agent; one per host name (a new one replaces it)."""

    name: str
    secret_hash: str
    url: str | None
    created_at: datetime
    expires_at: datetime

    def __repr__(self) -> str:  # the hash is no secret, but it has no business in a log either
        return f"PendingEnrolment(name={self.name!r}, expires_at={self.expires_at.isoformat()})"


class HostStore(Protocol):
    """Enrolled hosts by name.

    ``renew`` replaces the certificate only while the stored fingerprint is still
    ``expected_fingerprint`` (a removed or re-enrolled host is never brought back); ``seen``
    records a contact (and the agent's version, unless ``None``); ``remove`` deletes the host and
    its pending token, ``True`` if either was there. ``renew`` and ``remove`` append their audit
    ``event`` (if given) in the same transaction as the change, and only when there was one.
    """

    async def get(self, name: str) -> HostRecord | None: ...
    async def list(self) -> list[HostRecord]: ...
    async def renew(
        self, name: str, expected_fingerprint: str, cert: CertInfo, event: AuditEvent | None = None
    ) -> bool: ...
    async def seen(self, name: str, at: datetime, agent_version: str | None) -> bool: ...
    async def remove(self, name: str, event: AuditEvent | None = None) -> bool: ...


class EnrolmentStore(Protocol):
    """Pending enrolment tokens.

    ``put`` stores ``pending`` in place of any earlier token for the same name and forgets
    expired ones. ``redeem`` is atomic: it deletes the token whose hash is ``secret_hash`` if it
    belongs to ``name`` and has not expired at ``now``, and in the same transaction stores the
    host (url from the token, ``cert``, enrolled at ``now``), replacing any record of that name;
    it returns the record, or ``None`` (and changes nothing) for any other token. Its audit
    ``event`` (if given) is appended in the same transaction, its detail completed with the
    token's ``url``.
    """

    async def put(self, pending: PendingEnrolment, now: datetime) -> None: ...
    async def redeem(
        self,
        secret_hash: str,
        name: str,
        now: datetime,
        cert: CertInfo,
        event: AuditEvent | None = None,
    ) -> HostRecord | None: ...
    async def pending(self, now: datetime) -> list[PendingEnrolment]: ...


def with_url(event: AuditEvent, url: str | None) -> AuditEvent:
    """``event`` (a ``host.enrolled`` draft) with the redeemed token's ``url`` in its detail."""
    return dataclasses.replace(event, detail={**event.detail, "url": url or ""})
