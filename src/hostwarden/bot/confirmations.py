"""Pending confirmations for destructive actions, keyed by an unguessable nonce.

A button carries only ``ok:<nonce>`` (or ``ub:<nonce>``); what it confirms stays in the store,
so a forged callback cannot name another container, and a press from anyone but the asker, or
after the deadline, does nothing. The store hands a nonce out once: pressed twice, on one hub
replica or on two, the action runs once.

An action on a host keeps that host (the reading of the press carries it, so the guard decides
the press on it: a grant revoked after the question holds) and, for an agent's host, the
fingerprint of its enrolled certificate at the time of the question: a host removed and enrolled
again under the same name is another host, and the press acts on nothing.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from hostwarden.core.clock import Clock
from hostwarden.storage.pending import Pending, PendingStore

KIND = "confirm"


@dataclass(frozen=True, slots=True)
class PendingAction:
    """What a confirmation button stands for, and until when."""

    user_id: int
    verb: str
    target: str
    action: str
    expires: datetime
    host: str | None = None  # the fleet host the action is on
    host_fingerprint: str | None = None  # its enrolled certificate's, when it is an agent's


class Asked(NamedTuple):
    """What a press of a live nonce asks for, as the reading needs it (before it is taken)."""

    verb: str
    action: str
    host: str | None = None


def _text(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("not text")
    return value


def _action(entry: Pending) -> PendingAction | None:
    try:
        fields = json.loads(entry.payload)
        return PendingAction(
            int(entry.owner), fields["verb"], fields["target"], fields["action"], entry.expires_at,
            _text(fields.get("host")), _text(fields.get("host_fingerprint")),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError):  # not one of ours: as expired
        return None


class ConfirmationBook:
    """Pending confirmations in the store, each valid for ``ttl_seconds``."""

    def __init__(self, pending: PendingStore, clock: Clock, ttl_seconds: int = 120) -> None:
        self._pending = pending
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)

    async def add(
        self,
        user_id: int,
        verb: str,
        target: str,
        action: str,
        host: str | None = None,
        host_fingerprint: str | None = None,
    ) -> str:
        """Remember an action awaiting confirmation; the nonce goes into the button.

        ``host`` is the fleet host the action is on, ``host_fingerprint`` the fingerprint of
        that host's enrolled certificate (``None`` for the hub's own host).
        """
        now = self._clock.now()
        fields: dict[str, str | None] = {"verb": verb, "target": target, "action": action}
        if host is not None:
            fields |= {"host": host, "host_fingerprint": host_fingerprint}
        payload = json.dumps(fields)
        while True:  # a clash of 96 random bits is not expected; it is still not overwritten
            nonce = secrets.token_urlsafe(12)
            entry = Pending(KIND, nonce, str(user_id), payload, now + self._ttl)
            if await self._pending.create(entry, now):
                return nonce

    async def peek(self, nonce: str) -> Asked | None:
        """The verb, policy action and host a press of ``nonce`` asks for, while it is live."""
        entry = await self._pending.peek(KIND, nonce, self._clock.now())
        pending = _action(entry) if entry is not None else None
        return Asked(pending.verb, pending.action, pending.host) if pending else None

    async def take(self, nonce: str, user_id: int) -> PendingAction | None:
        """Use up ``nonce`` if it is live and belongs to ``user_id``; only one caller gets it."""
        entry = await self._pending.take(KIND, nonce, str(user_id), self._clock.now())
        return _action(entry) if entry is not None else None
