"""Pending confirmations for destructive actions, keyed by an unguessable nonce.

A button carries only ``ok:<nonce>``; what it confirms stays here, so a forged callback cannot
name another container, and a press from anyone but the asker, or after the deadline, does nothing.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from hostwarden.core.clock import Clock


@dataclass(frozen=True, slots=True)
class PendingAction:
    user_id: int
    verb: str
    target: str
    action: str
    expires: datetime


class ConfirmationBook:
    """At most ``capacity`` pending confirmations, each valid for ``ttl_seconds``."""

    def __init__(self, clock: Clock, ttl_seconds: int = 120, capacity: int = 1000) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)
        self._capacity = capacity
        self._pending: OrderedDict[str, PendingAction] = OrderedDict()

    def add(self, user_id: int, verb: str, target: str, action: str) -> str:
        """Remember an action awaiting confirmation; the nonce goes into the button."""
        while len(self._pending) >= self._capacity:
            self._pending.popitem(last=False)
        nonce = secrets.token_urlsafe(12)
        expires = self._clock.now() + self._ttl
        self._pending[nonce] = PendingAction(user_id, verb, target, action, expires)
        return nonce

    def _live(self, nonce: str) -> PendingAction | None:
        pending = self._pending.get(nonce)
        if pending is None:
            return None
        if pending.expires <= self._clock.now():
            del self._pending[nonce]
            return None
        return pending

    def peek(self, nonce: str) -> tuple[str, str] | None:
        """The verb and policy action a press of ``nonce`` asks for, while it is live."""
        pending = self._live(nonce)
        return (pending.verb, pending.action) if pending else None

    def take(self, nonce: str, user_id: int) -> PendingAction | None:
        """Use up ``nonce`` if it is live and belongs to ``user_id``."""
        pending = self._live(nonce)
        if pending is None or pending.user_id != user_id:
            return None
        del self._pending[nonce]
        return pending

    def drop(self, nonce: str) -> None:
        self._pending.pop(nonce, None)
