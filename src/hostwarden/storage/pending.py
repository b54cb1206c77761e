"""What waits for a user's next step, kept in the store so any hub replica can continue it.

Two small protocols:

- :class:`PendingStore`: single-use entries with a deadline (a confirmation button's nonce, an
  update parked behind a 2FA prompt, a console question already answered). ``take`` hands an
  entry to one caller only, even when two processes race for it.
- :class:`ConversationStore`: aiogram's per-chat state and data (the FSM), with a deadline.

Every deadline is read against the ``now`` the caller passes (the injected clock), never the
database's own clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

KEY_LENGTH = 128  # the longest key or owner either store accepts (nonces are far shorter)


@dataclass(frozen=True, slots=True)
class Pending:
    """One single-use entry: its ``kind`` and ``key`` name it, ``owner`` may take it.

    ``payload`` is what the entry stands for, as text the caller wrote (JSON, or a ciphertext
    when it is sensitive); it is live until ``expires_at``.
    """

    kind: str
    key: str
    owner: str
    payload: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    """A chat's conversation state (``None`` when there is none) and its data as JSON text."""

    state: str | None
    data: str


class PendingStore(Protocol):
    """Single-use entries with a deadline.

    ``create`` stores an entry unless a live one has its kind and key (then ``False``; an expired
    one is replaced). ``peek`` reads a live entry without using it. ``take`` removes and returns
    it when it is live and ``owner`` is its owner, as one atomic step: of any number of callers
    in any number of processes, one gets it. ``renew`` replaces a live entry's payload and
    deadline in one step if ``entry.owner`` owns it (``False`` otherwise: a lease kept by its
    holder only). ``purge`` deletes what expired.
    """

    async def create(self, entry: Pending, now: datetime) -> bool: ...
    async def peek(self, kind: str, key: str, now: datetime) -> Pending | None: ...
    async def take(self, kind: str, key: str, owner: str, now: datetime) -> Pending | None: ...
    async def renew(self, entry: Pending, now: datetime) -> bool: ...
    async def purge(self, now: datetime) -> int: ...


class ConversationStore(Protocol):
    """aiogram's FSM records by key, each written with a deadline and unseen after it.

    ``set_state`` and ``set_data`` each change their own part and renew the deadline (the other
    part of a record expired by ``now`` starts empty); a record with no state and empty data
    (``"{}"``) is removed. ``purge`` deletes what expired.
    """

    async def get(self, key: str, now: datetime) -> Conversation | None: ...
    async def set_state(
        self, key: str, state: str | None, now: datetime, expires_at: datetime
    ) -> None: ...
    async def set_data(self, key: str, data: str, now: datetime, expires_at: datetime) -> None: ...
    async def purge(self, now: datetime) -> int: ...
