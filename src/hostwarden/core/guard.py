"""The guard: the seeds' access-control flow as one ``decide()`` that returns a value.

Blocked actors are dropped; unknown actors are counted, reported and blocked at MAX_ATTEMPTS;
known users pass the role check, then fresh 2FA where the action needs it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from hostwarden.core.alerts import Alert, AlertOutbox
from hostwarden.core.audit import AuditTrail
from hostwarden.core.clock import Clock
from hostwarden.core.decision import (
    DENIED,
    NEEDS_ENROLMENT,
    Decision,
    DecisionContext,
    DecisionPlan,
    DecisionResult,
    OutboxEntry,
    Verdict,
    actor_ref,
)
from hostwarden.core.directory import Directory
from hostwarden.core.grants import HostGrants
from hostwarden.core.identity import Actor, User
from hostwarden.core.lockout import Lockout, bounded_key
from hostwarden.core.policy import Policy
from hostwarden.core.sessions import SessionManager
from hostwarden.core.settings import AccessSettings
from hostwarden.core.totp import TotpOutcome, TotpService
from hostwarden.storage.base import CounterRule, DecisionStore, ElevationStore, HitResult

__all__ = ["DENIED", "NEEDS_ENROLMENT", "Decision", "Guard", "Verdict", "actor_ref"]


class Guard:
    """Decides every request. Nothing else in hostwarden decides access.

    Each decision is one :class:`~hostwarden.storage.base.DecisionStore` step: the store reads,
    :meth:`DecisionPlan.evaluate` decides, and the counter, block, audit events and alerts it
    implies commit in one transaction before the answer is returned.
    """

    def __init__(
        self,
        directory: Directory,
        policy: Policy,
        lockout: Lockout,
        totp: TotpService,
        sessions: SessionManager,
        elevations: ElevationStore,
        alerts: AlertOutbox,
        audit: AuditTrail,
        clock: Clock,
        access: AccessSettings,
        decisions: DecisionStore,
    ) -> None:
        self._directory = directory
        self._totp = totp
        self._elevations = elevations
        self._alerts = alerts
        self._audit = audit
        self._clock = clock
        self._decisions = decisions
        self._known_accounts: set[int] = set()
        self._materialising: dict[int, asyncio.Future[User | None]] = {}
        self.grants = HostGrants(access.host_grants)
        self._context = DecisionContext(
            access=access,
            unknown_rule=lockout.rule(access.max_attempts),
            # Counted only, never blocking: a known user over the rate is slowed, not locked out.
            rate_rule=CounterRule(limit=None, window_seconds=access.rate_window_seconds),
            rule_for=policy.rule_for,
            resolve_user=directory.resolve_user,
            config_roles=directory.config_roles,
            mfa_fresh=sessions.mfa_fresh,
            bounded_key=bounded_key,
            plan_alert=self._plan_alert,
            host_allowed=self.grants.allows,
        )

    async def decide(self, actor: Actor, action: str, host: str | None = None) -> Decision:
        """Decide whether ``actor`` may run ``action`` now (on fleet host ``host``, if named).

        A user whose ``access.host_grants`` do not list ``host`` is denied, audited as any
        refusal (``access.denied`` with ``reason=host`` and the host).
        """
        telegram_id = actor.telegram_id
        # A config-declared ID gets its stored account on first contact (it holds the second
        # factor); that is the directory's job, once per ID and process.
        if (
            telegram_id is not None
            and telegram_id not in self._known_accounts
            and self._directory.config_roles(telegram_id)
        ):
            await self._first_contact(actor, telegram_id)
        result = await self._decisions.decide(self.plan(actor, action, host))
        self.logged(result)
        return result.decision

    async def _first_contact(self, actor: Actor, telegram_id: int) -> None:
        # Updates that arrive together (a burst of first messages) share one creation.
        making = self._materialising.get(telegram_id)
        if making is None:
            making = asyncio.ensure_future(self._directory.resolve(actor))
            self._materialising[telegram_id] = making
            making.add_done_callback(lambda done: self._made(telegram_id, done))
        await asyncio.shield(making)
        self._known_accounts.add(telegram_id)

    def store_changed(self, reason: str | None) -> None:
        """A :class:`~hostwarden.core.health.StoreHealth` listener: once the store is lost, it
        may come back restored from a copy older than some first contacts, so every
        config-declared ID has its stored account made again, if missing, on its next contact
        (the first after the outage included, before it is counted as a stranger's)."""
        self._known_accounts.clear()

    def _made(self, telegram_id: int, done: asyncio.Future[User | None]) -> None:
        self._materialising.pop(telegram_id, None)
        if not done.cancelled():
            done.exception()  # retrieved: waiters that are gone must not leave it unlogged

    def plan(self, actor: Actor, action: str, host: str | None = None) -> DecisionPlan:
        """The plan :meth:`decide` runs, for a store step that runs it with other work
        (:mod:`hostwarden.core.viewing`): only for actors with no Telegram ID."""
        return DecisionPlan(actor, action, self._clock.now(), self._context, host)

    def logged(self, result: DecisionResult) -> None:
        """Log the committed events of a decision (their rows are already in the store)."""
        for event in result.writes.events:
            self._audit.logged(event)

    def hosts_for(self, user: User) -> frozenset[str] | None:
        """The hosts ``user`` may act on (``None``: all): for pickers and overviews."""
        return self.grants.hosts_for(user)

    def _plan_alert(
        self, kind: str, ref: str, actor: Actor, hit: HitResult, left: int, now: datetime
    ) -> OutboxEntry:
        title = (
            "Unknown user blocked after repeated attempts"
            if kind == "blocked"
            else "Unauthorized access attempt"
        )
        alert = Alert(
            kind,
            title,
            now,
            username=actor.username or actor.display_name,
            user_id=actor.telegram_id,
            attempt=hit.count,
            attempts_left=left,
            token_hint=actor.telegram_id is not None,
        )
        return self._alerts.plan(alert)

    async def submit_totp(self, actor: Actor, code: str) -> TotpOutcome:
        """Check a code the actor typed; a valid one covers critical actions for a while."""
        user = await self._directory.resolve(actor)
        if user is None:
            return TotpOutcome.NOT_ENROLLED
        outcome = await self._totp.verify(user, code)
        if outcome is TotpOutcome.ACCEPTED:
            await self._elevations.grant(user.id, self._channel(actor), self._clock.now())
        return outcome

    @staticmethod
    def _channel(actor: Actor) -> str:
        return "telegram" if actor.telegram_id is not None else "password"
