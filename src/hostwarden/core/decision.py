"""One guard decision as a pure step over what the store read inside one transaction.

:class:`DecisionPlan` says what a decision may read (the actor's block keys, their account, one
counter, their second factor) and :meth:`DecisionPlan.evaluate` turns those reads into a
:class:`~hostwarden.core.guard.Decision` plus every write it implies (the counter, a block, audit
events, alerts). A :class:`~hostwarden.storage.base.DecisionStore` runs ``evaluate`` while it holds
its lock and commits the writes together, so the audit can never disagree with the counters, a
block never lacks its event, and a decision is answered only once it is durable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from hostwarden.core.audit import Kind
from hostwarden.core.identity import Actor, Role, User
from hostwarden.core.policy import CLAIM, ActionRule
from hostwarden.core.settings import AccessSettings
from hostwarden.records import record
from hostwarden.storage.base import AuditEvent, Block, CounterRule, HitResult
from hostwarden.storage.counting import CounterState, apply_hit, block_event

DENIED = "Access denied."
NEEDS_ENROLMENT = "This action needs a second factor: enrol one with /enroll2fa first."


class Verdict(StrEnum):
    ALLOW = "allow"
    DROP = "drop"
    DENY = "deny"
    ASK_TOTP = "ask_totp"


@record
class Decision:
    """What the front end must do. ``reply`` is safe, fixed text; ``user`` is set when known."""

    verdict: Verdict
    reason: str
    user: User | None = None
    reply: str | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


class DecisionReader(Protocol):
    """What a decision reads, synchronously, inside the store's transaction."""

    def block(self, keys: tuple[str, ...]) -> Block | None: ...
    def user(self, telegram_id: int | None, username: str | None) -> User | None: ...
    def counter(self, key: str) -> CounterState | None: ...
    def factor(self, user_id: int, channel: str) -> tuple[bool, datetime | None]: ...


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An alert for the outbox: its text, or with ``bucket`` a count in a digest."""

    text: str
    bucket: str | None = None
    deliver_at: datetime | None = None


@dataclass(slots=True)
class DecisionWrites:
    """Everything one decision writes; the store commits it in the decision's transaction."""

    counter: tuple[str, CounterState] | None = None
    block: Block | None = None
    events: list[AuditEvent] = field(default_factory=list)
    outbox: list[OutboxEntry] = field(default_factory=list)


@record
class DecisionResult:
    """A decision and what it wrote (``writes.events`` carry their store ids once committed)."""

    decision: Decision
    writes: DecisionWrites


def _outcome(
    writes: DecisionWrites,
    verdict: Verdict,
    reason: str,
    user: User | None = None,
    reply: str | None = None,
) -> DecisionResult:
    return DecisionResult(Decision(verdict, reason, user, reply), writes)


AlertPlanner = Callable[[str, str, Actor, HitResult, int, datetime], OutboxEntry]


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """What every decision of one core shares: settings, rules and the pure helpers."""

    access: AccessSettings
    unknown_rule: CounterRule
    rate_rule: CounterRule
    rule_for: Callable[[str], ActionRule | None]
    resolve_user: Callable[[User], User | None]
    config_roles: Callable[[int], frozenset[Role]]
    mfa_fresh: Callable[[datetime | None], bool]
    bounded_key: Callable[[str], str]
    plan_alert: AlertPlanner
    host_allowed: Callable[[User, str], bool] = lambda user, host: True  # access.host_grants


def actor_ref(actor: Actor) -> str:
    """The audit reference of an actor (full identity; logs mask it)."""
    if actor.telegram_id is not None:
        return f"tg:{actor.telegram_id}"
    if actor.username is not None:
        return f"user:{actor.username}"
    return f"ip:{actor.ip}" if actor.ip else "anonymous"


@record
class DecisionPlan:
    """One decision to make: who asks for what, at what time, under which rules."""

    actor: Actor
    action: str
    now: datetime
    context: DecisionContext
    host: str | None = None  # the fleet host the action is on, when it is on one

    @property
    def ref(self) -> str:
        return actor_ref(self.actor)

    @property
    def block_keys(self) -> tuple[str, ...]:
        return tuple(map(self.context.bounded_key, self.actor.lockout_keys()))

    @property
    def channel(self) -> str:
        return "telegram" if self.actor.telegram_id is not None else "password"

    @property
    def wants_factor(self) -> bool:
        """Whether the decision may read the user's second factor (the action needs 2FA)."""
        rule = self.context.rule_for(self.action)
        return rule is not None and rule.needs_2fa

    def counter_key(self, stored: User | None) -> str | None:
        """The one counter the decision may move, given the account the store found."""
        known = stored is not None and self.context.resolve_user(stored) is not None
        if known:
            return (
                self.context.bounded_key(f"rate:{self.ref}")
                if self.context.access.rate_limit
                else None
            )
        keys = self.actor.lockout_keys()
        return self.context.bounded_key(keys[0]) if keys else None

    def evaluate(self, reads: DecisionReader) -> DecisionResult:
        """The seeds' flow: blocked -> drop; unknown -> count, report, block; known -> rules."""
        writes = DecisionWrites()
        if reads.block(self.block_keys) is not None:
            self._event(writes, Kind.ACCESS_BLOCKED)
            return _outcome(writes, Verdict.DROP, "blocked", reply=DENIED)
        stored = reads.user(self.actor.telegram_id, self.actor.username)
        user = self.context.resolve_user(stored) if stored is not None else None
        if user is None:
            return self._unknown(reads, writes)
        return self._known(reads, writes, user)

    def _event(self, writes: DecisionWrites, kind: str, **detail: Any) -> None:
        detail = {"action": self.action, **({"host": self.host} if self.host else {}), **detail}
        writes.events.append(AuditEvent(kind, self.now, self.ref, "", detail))

    def _hit(
        self, reads: DecisionReader, writes: DecisionWrites, key: str, rule: CounterRule
    ) -> HitResult:
        key = self.context.bounded_key(key)
        result, state, block = apply_hit(key, reads.counter(key), None, self.now, rule)
        if state is not None:
            writes.counter = (key, state)
        if block is not None:
            writes.block = block
            writes.events.append(block_event(block))
        return result

    def _unknown(self, reads: DecisionReader, writes: DecisionWrites) -> DecisionResult:
        keys = self.actor.lockout_keys()
        if not keys:
            self._event(writes, Kind.ACCESS_BLOCKED)
            return _outcome(writes, Verdict.DROP, "blocked", reply=DENIED)
        access = self.context.access
        hit = self._hit(reads, writes, keys[0], self.context.unknown_rule)
        self._event(writes, Kind.ACCESS_UNKNOWN, attempt=hit.count)
        if hit.alert_due or hit.newly_blocked:
            kind = "blocked" if hit.newly_blocked else "unauthorized"
            left = max(access.max_attempts - hit.count, 0)
            entry = self.context.plan_alert(kind, self.ref, self.actor, hit, left, self.now)
            writes.outbox.append(entry)
            name = self.actor.username or self.actor.display_name
            subject = self.ref if self.actor.telegram_id is not None else ""
            subject = subject or (f"user:{name}" if name else "")
            writes.events.append(
                AuditEvent(
                    Kind.ALERT_RAISED,
                    self.now,
                    "",
                    subject,
                    {"alert": kind, "folded": entry.bucket is not None},
                )
            )
        if hit.newly_blocked:
            self._event(writes, Kind.ACCESS_BLOCKED)
            return _outcome(writes, Verdict.DROP, "blocked now")
        if self.action in (access.setup_action, CLAIM):
            return _outcome(writes, Verdict.ALLOW, "setup")
        return _outcome(writes, Verdict.DROP, "unknown")

    def _known(self, reads: DecisionReader, writes: DecisionWrites, user: User) -> DecisionResult:
        limit = self.context.access.rate_limit
        if limit:
            hit = self._hit(reads, writes, f"rate:{self.ref}", self.context.rate_rule)
            if hit.count == limit + 1:  # audited once per window, not once per dropped request
                self._event(writes, Kind.ACCESS_THROTTLED, count=hit.count)
            if hit.count > limit:
                return _outcome(writes, Verdict.DROP, "rate", user=user)
        rule = self.context.rule_for(self.action)
        if user.locked or rule is None or not user.has_role(rule.role):
            reason = "locked" if user.locked else ("unknown action" if rule is None else "role")
            self._event(writes, Kind.ACCESS_DENIED, reason=reason)
            return _outcome(writes, Verdict.DENY, reason, user=user, reply=DENIED)
        if self.host is not None and not self.context.host_allowed(user, self.host):
            self._event(writes, Kind.ACCESS_DENIED, reason="host")
            return _outcome(writes, Verdict.DENY, "host", user=user, reply=DENIED)
        if rule.needs_2fa:
            enrolled, elevated_at = reads.factor(user.id, self.channel)
            if not enrolled:
                self._event(writes, Kind.ACCESS_DENIED, reason="no second factor")
                return _outcome(
                    writes, Verdict.DENY, "no second factor", user=user, reply=NEEDS_ENROLMENT
                )
            if not self.context.mfa_fresh(self.actor.mfa_at or elevated_at):
                return _outcome(writes, Verdict.ASK_TOTP, "fresh 2FA needed", user=user)
        if rule.needs_2fa or rule.role is Role.ADMIN:
            self._event(writes, Kind.ACCESS_GRANTED)
        return _outcome(writes, Verdict.ALLOW, "allowed", user=user)
