"""The store's small protocols and the records they pass.

Every security counter or limit changes inside one backend call that is atomic across
processes: callers never read a value, decide, and write it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from hostwarden.core.health import StoreHealth
from hostwarden.core.identity import User
from hostwarden.records import record

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan, DecisionResult
    from hostwarden.storage.fleet import EnrolmentStore, HostStore
    from hostwarden.storage.pending import ConversationStore, PendingStore
    from hostwarden.storage.views import SessionViewStore


@dataclass(frozen=True, slots=True)
class CounterRule:
    """How one kind of attempt is counted. ``limit=None`` counts without ever blocking."""

    limit: int | None
    window_seconds: int
    block_seconds: int = 3600
    max_block_seconds: int = 86400
    permanent_after: int = 0
    remember_seconds: int = 86400
    alert_every_seconds: int | None = None


@record
class HitResult:
    """What one attempt did to its counter.

    ``counted`` is false when the key was already blocked: the attempt was refused unseen.
    ``count`` is the attempt number inside the window (the one that blocked, if it blocked).
    ``event`` is the ``block.created`` event the store appended with a new block, in the same
    transaction (the caller only logs it).
    """

    counted: bool
    count: int
    blocked_until: datetime | None = None
    blocked: bool = False
    newly_blocked: bool = False
    alert_due: bool = False
    level: int = 0
    event: AuditEvent | None = None


@dataclass(frozen=True, slots=True)
class Block:
    """A key that may not act. ``until=None`` means until lifted by hand."""

    key: str
    until: datetime | None
    reason: str
    level: int
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.until is None or self.until > now


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A stored session; the token itself is never stored, only its SHA-256."""

    token_hash: str
    user_id: int
    created_at: datetime
    last_seen: datetime
    ip: str | None = None
    user_agent: str | None = None
    mfa_at: datetime | None = None

    @property
    def handle(self) -> str:
        """A short public name for listings and revocation; it cannot be used to log in."""
        return self.token_hash[:12]


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """A user's TOTP secret, encrypted; unconfirmed until a first valid code."""

    user_id: int
    secret_encrypted: str
    confirmed: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One append-only audit record. ``id`` is given by the store."""

    kind: str
    at: datetime
    actor: str = ""
    subject: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters for reading the audit trail, newest first; ``before_id`` pages (keyset)."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    kind: str | None = None
    before_id: int | None = None
    limit: int = 50


class Outcome(StrEnum):
    """What one attempt to deliver a message to one recipient came to."""

    DELIVERED = "delivered"
    FAILED = "failed"
    GAVE_UP = "gave_up"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One recipient's progress with one outbox message (recipients are named, e.g. ``apprise:1``).

    ``attempts`` counts claims; a claimed delivery is not claimed again before
    ``next_attempt_at``. Once delivered or given up, it is never tried again.
    """

    recipient: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None = None
    gave_up_at: datetime | None = None

    @property
    def settled(self) -> bool:
        """Delivered or given up: nothing more will be sent to this recipient."""
        return self.delivered_at is not None or self.gave_up_at is not None

    def ready(self, now: datetime) -> bool:
        """Whether it may be claimed at ``now``."""
        return not self.settled and self.next_attempt_at <= now


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """An alert waiting to be delivered. Digests carry a ``bucket`` and a ``count``.

    ``deliveries`` holds the recipients tried so far, by name; a recipient without one was never
    tried.
    """

    id: int
    created_at: datetime
    text: str
    next_attempt_at: datetime
    bucket: str | None = None
    count: int = 1
    deliveries: tuple[Delivery, ...] = ()

    def delivery(self, recipient: str) -> Delivery | None:
        """This message's delivery to ``recipient``, if it was ever tried."""
        return next((d for d in self.deliveries if d.recipient == recipient), None)


class UserStore(Protocol):
    """Accounts.

    ``delete`` removes the account and everything that refers to it (Telegram IDs, sessions,
    TOTP factor, used steps, recovery codes, elevations) in one transaction; it returns
    ``False`` when there was no such account.
    """

    async def get(self, username: str) -> User | None: ...
    async def by_telegram_id(self, telegram_id: int) -> User | None: ...
    async def by_id(self, user_id: int) -> User | None: ...
    async def create(self, user: User) -> User: ...
    async def update(self, user: User) -> User: ...
    async def list(self) -> list[User]: ...
    async def delete(self, user_id: int) -> bool: ...


class CounterStore(Protocol):
    """Attempt counters; ``hit`` also creates the block when a limit is reached.

    The block, its ``block.created`` event (:attr:`HitResult.event`) and the counter change are
    one transaction: a process killed at any point leaves all of them or none.
    """

    async def hit(self, key: str, now: datetime, rule: CounterRule) -> HitResult: ...
    async def reset(self, key: str) -> None: ...
    async def prune(self, now: datetime, window_seconds: int, remember_seconds: int) -> int: ...
    async def size(self) -> int: ...


class BlockStore(Protocol):
    """Blocks, automatic or by hand.

    ``put`` and ``remove`` append their audit ``event`` in the same transaction as the change and
    return it as stored; ``remove`` returns ``None`` (and appends nothing) when there was no block.
    """

    async def active(self, keys: tuple[str, ...], now: datetime) -> Block | None: ...
    async def put(self, block: Block, event: AuditEvent) -> AuditEvent: ...
    async def remove(self, key: str, event: AuditEvent) -> AuditEvent | None: ...
    async def list(self, now: datetime) -> list[Block]: ...


class SessionStore(Protocol):
    """Sessions by token hash; ``touch`` renews atomically only while still valid."""

    async def put(self, record: SessionRecord) -> None: ...
    async def touch(
        self, token_hash: str, now: datetime, idle_after: datetime, created_after: datetime
    ) -> SessionRecord | None: ...
    async def delete(self, token_hash_prefix: str, user_id: int | None = None) -> int: ...
    async def purge(self, idle_before: datetime, created_before: datetime) -> int: ...
    async def list(self, user_id: int | None = None) -> list[SessionRecord]: ...


class TotpStore(Protocol):
    """TOTP factors, used time steps and recovery codes."""

    async def get_factor(self, user_id: int) -> TotpFactor | None: ...
    async def put_factor(self, factor: TotpFactor | None, user_id: int) -> None: ...
    async def claim_step(self, user_id: int, step: int, now: datetime) -> bool: ...
    async def set_recovery(self, user_id: int, code_hashes: list[str]) -> None: ...
    async def use_recovery(self, user_id: int, code_hash: str) -> bool: ...


class ElevationStore(Protocol):
    """Fresh second-factor grants for front ends without sessions (the bot)."""

    async def grant(self, user_id: int, channel: str, at: datetime) -> None: ...
    async def granted_at(self, user_id: int, channel: str) -> datetime | None: ...
    async def revoke(self, user_id: int) -> None: ...


class AuditStore(Protocol):
    """The append-only audit trail."""

    async def append(self, event: AuditEvent) -> AuditEvent: ...
    async def query(self, query: AuditQuery) -> list[AuditEvent]: ...


class OutboxStore(Protocol):
    """The durable alert outbox, delivered to each recipient separately.

    ``due`` lists messages whose ``next_attempt_at`` has come, oldest first, with their
    deliveries. ``claim`` takes one recipient's delivery before a send: it succeeds only while
    that delivery is unsettled and ready, counts the attempt and holds it off until
    ``retry_at``. ``settle`` records the send's outcome (``True`` only for the call that settled
    the delivery), then removes the message once every name in ``recipients`` is settled, or else
    sets its ``next_attempt_at`` to the soonest time one of them can be tried again. ``seen`` is
    the ``count`` the sender read (and sent): a digest that gained folds since is not removed
    but keeps the remainder (``count - seen``), due ``now`` for every recipient afresh.
    """

    async def put(self, text: str, now: datetime) -> None: ...
    async def fold(self, bucket: str, text: str, now: datetime, deliver_at: datetime) -> None: ...
    async def due(self, now: datetime, limit: int) -> list[OutboxMessage]: ...
    async def claim(
        self, message_id: int, recipient: str, now: datetime, retry_at: datetime
    ) -> bool: ...
    async def settle(
        self,
        message_id: int,
        recipient: str,
        outcome: Outcome,
        now: datetime,
        recipients: Sequence[str],
        seen: int = 1,
    ) -> bool: ...


class DecisionStore(Protocol):
    """Runs one guard decision in one transaction: read, evaluate, write, commit, answer.

    The store holds its lock (a row lock, SQLite's write lock, or the event loop) from the first
    read to the commit, so the decision's counters, block, audit events and alerts are written
    together and a limit can never be passed by a concurrent decision, in any process.
    """

    async def decide(self, plan: DecisionPlan) -> DecisionResult: ...


class Store(Protocol):
    """A backend: one object per protocol, plus start and close.

    ``health`` tells whether the backend's database answers (see :class:`StoreHealth`).
    """

    @property
    def users(self) -> UserStore: ...
    @property
    def counters(self) -> CounterStore: ...
    @property
    def blocks(self) -> BlockStore: ...
    @property
    def sessions(self) -> SessionStore: ...
    @property
    def totp(self) -> TotpStore: ...
    @property
    def elevations(self) -> ElevationStore: ...
    @property
    def audit(self) -> AuditStore: ...
    @property
    def outbox(self) -> OutboxStore: ...
    @property
    def pending(self) -> PendingStore: ...
    @property
    def conversations(self) -> ConversationStore: ...
    @property
    def hosts(self) -> HostStore: ...
    @property
    def enrolments(self) -> EnrolmentStore: ...
    @property
    def decisions(self) -> DecisionStore: ...
    @property
    def views(self) -> SessionViewStore: ...
    @property
    def health(self) -> StoreHealth: ...

    async def start(self) -> None: ...
    async def close(self) -> None: ...
