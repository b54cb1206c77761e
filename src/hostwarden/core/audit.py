"""The audit trail: one append-only event per decision, in the store and as a JSON log line.

The store keeps full identities (admins need them); the log line masks them, because logs travel
to collectors that more people can read.
"""

from __future__ import annotations

import functools
import html
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from hostwarden.core.clock import Clock
from hostwarden.core.masking import mask_user_id, mask_username
from hostwarden.storage.base import AuditEvent, AuditQuery, AuditStore

LOG = logging.getLogger("hostwarden.audit")


class Kind:
    """The documented vocabulary of event kinds (see docs/audit.md)."""

    LOGIN_SUCCEEDED: Final = "login.succeeded"
    LOGIN_FAILED: Final = "login.failed"
    LOGIN_REFUSED: Final = "login.refused"
    LOGOUT: Final = "logout"
    TOTP_SUCCEEDED: Final = "totp.succeeded"
    TOTP_FAILED: Final = "totp.failed"
    TOTP_REPLAYED: Final = "totp.replayed"
    TOTP_REFUSED: Final = "totp.refused"
    TOTP_ENROLLED: Final = "totp.enrolled"
    TOTP_ENROLMENT_STARTED: Final = "totp.enrolment_started"
    TOTP_RESET: Final = "totp.reset"
    RECOVERY_USED: Final = "totp.recovery_used"
    ACCESS_GRANTED: Final = "access.granted"
    ACCESS_DENIED: Final = "access.denied"
    ACCESS_BLOCKED: Final = "access.blocked"
    ACCESS_UNKNOWN: Final = "access.unknown"
    ACCESS_THROTTLED: Final = "access.throttled"
    BLOCK_CREATED: Final = "block.created"
    BLOCK_LIFTED: Final = "block.lifted"
    ACCOUNT_CREATED: Final = "account.created"
    ACCOUNT_LOCKED: Final = "account.locked"
    ACCOUNT_UNLOCKED: Final = "account.unlocked"
    ACCOUNT_UPDATED: Final = "account.updated"
    ACCOUNT_REMOVED: Final = "account.removed"
    PASSWORD_CHANGED: Final = "password.changed"
    PASSWORD_REHASHED: Final = "password.rehashed"
    SESSION_BINDING_MISMATCH: Final = "session.binding_mismatch"
    SESSION_REVOKED: Final = "session.revoked"
    SESSION_EXPIRED: Final = "session.expired"
    ALERT_RAISED: Final = "alert.raised"
    ALERT_UNDELIVERABLE: Final = "alert.undeliverable"
    ADMIN_ACTION: Final = "admin.action"
    ADMIN_CLAIMED: Final = "admin.claimed"
    CONTAINER_ACTION: Final = "container.action"
    IDENTITY_REVEALED: Final = "identity.revealed"
    HOST_ENROLLED: Final = "host.enrolled"
    HOST_RENEWED: Final = "host.renewed"
    HOST_REMOVED: Final = "host.removed"
    ERROR: Final = "error"


ALL_KINDS: Final = frozenset(
    value for name, value in vars(Kind).items() if name.isupper() and isinstance(value, str)
)


def masked_ref(ref: str) -> str:
    """Mask an actor reference such as ``tg:123456789`` or ``user:alice`` for a log line.

    The result is HTML-escaped, whatever the reference holds.
    """
    # The same few references recur in a burst (a stranger knocking five times): remembered,
    # but only short ones, so a flood of 4 KB names cannot grow the memory.
    return _masked_short(ref) if len(ref) <= 64 else _masked(ref)


@functools.lru_cache(maxsize=4096)
def _masked_short(ref: str) -> str:
    return _masked(ref)


def _masked(ref: str) -> str:
    prefix, sep, value = ref.partition(":")
    if not sep:
        return mask_username(ref)
    prefix = html.escape(prefix[:16])
    if prefix in ("tg", "uid"):
        return f"{prefix}:{mask_user_id(value)}"
    if prefix in ("ip", "enrol"):  # an address (enrol: enrolment attempts from it)
        if "." not in value:
            return f"{prefix}:*"
        return f"{prefix}:{html.escape(value.rsplit('.', 1)[0][:40])}.*"
    return f"{prefix}:{mask_username(value)}"


class AuditTrail:
    """Records events in the store and writes one JSON line per event to the audit logger.

    Events that a store call appends together with its change (a block and its event) are only
    logged here, through :meth:`logged`.
    """

    def __init__(self, store: AuditStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        # Called with every logged event (a front end's metrics); a failing one is skipped.
        self.observers: list[Callable[[AuditEvent], None]] = []

    def draft(self, kind: str, actor: str = "", subject: str = "", **detail: Any) -> AuditEvent:
        """A new event stamped now, not yet stored: for store calls that append it themselves.

        A block and its ``block.created`` event, for instance, are written in one transaction
        (:meth:`BlockStore.put`); the stored event then goes to :meth:`logged`.
        """
        if kind not in ALL_KINDS:
            raise ValueError(f"unknown audit kind {kind!r}")
        return AuditEvent(kind, self._clock.now(), actor, subject, dict(detail))

    async def record(
        self, kind: str, actor: str = "", subject: str = "", **detail: Any
    ) -> AuditEvent:
        """Append one event; ``actor`` and ``subject`` are references like ``tg:42``."""
        stored = await self._store.append(self.draft(kind, actor, subject, **detail))
        return self.logged(stored)

    def logged(self, event: AuditEvent) -> AuditEvent:
        """Write the log line of ``event``, which the store already holds; returns it."""
        if LOG.isEnabledFor(logging.INFO):
            # The line says what it is about itself: no caller lookup (a stack walk per line).
            line = self.log_line(event)
            LOG.handle(LOG.makeRecord(LOG.name, logging.INFO, "audit", 0, line, (), None))
        for observe in self.observers:
            try:
                observe(event)
            except Exception as exc:  # an observer must never cost the event
                LOG.warning("audit observer failed: %s", type(exc).__name__)
        return event

    @staticmethod
    def log_line(event: AuditEvent) -> str:
        """The masked JSON line for ``event``."""
        record: Mapping[str, Any] = {
            "ts": event.at.isoformat(),
            "event": event.kind,
            "id": event.id,
            "actor": masked_ref(event.actor) if event.actor else "",
            "subject": masked_ref(event.subject) if event.subject else "",
            **{k: v for k, v in event.detail.items() if k not in ("ts", "event", "id")},
        }
        return json.dumps(record, default=str, ensure_ascii=False, sort_keys=False)

    async def query(self, query: AuditQuery) -> list[AuditEvent]:
        """Read events, newest first."""
        return await self._store.query(query)
