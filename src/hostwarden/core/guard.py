"""The guard: the seeds' access-control flow as one ``decide()`` that returns a value.

Blocked actors are dropped; unknown actors are counted, reported and blocked at MAX_ATTEMPTS;
known users pass the role check, then fresh 2FA where the action needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hostwarden.core.alerts import Alert, AlertOutbox
from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import Clock
from hostwarden.core.directory import Directory
from hostwarden.core.identity import Actor, Role, User
from hostwarden.core.lockout import Lockout
from hostwarden.core.policy import Policy
from hostwarden.core.sessions import SessionManager
from hostwarden.core.settings import AccessSettings
from hostwarden.core.totp import TotpOutcome, TotpService
from hostwarden.storage.base import CounterRule, ElevationStore

DENIED = "Access denied."
NEEDS_ENROLMENT = "This action needs a second factor: enrol one with /enroll2fa first."


class Verdict(StrEnum):
    ALLOW = "allow"
    DROP = "drop"
    DENY = "deny"
    ASK_TOTP = "ask_totp"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the front end must do. ``reply`` is safe, fixed text; ``user`` is set when known."""

    verdict: Verdict
    reason: str
    user: User | None = None
    reply: str | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


def actor_ref(actor: Actor) -> str:
    """The audit reference of an actor (full identity; logs mask it)."""
    if actor.telegram_id is not None:
        return f"tg:{actor.telegram_id}"
    if actor.username is not None:
        return f"user:{actor.username}"
    return f"ip:{actor.ip}" if actor.ip else "anonymous"


class Guard:
    """Decides every request. Nothing else in hostwarden decides access."""

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
    ) -> None:
        self._directory = directory
        self._policy = policy
        self._lockout = lockout
        self._totp = totp
        self._sessions = sessions
        self._elevations = elevations
        self._alerts = alerts
        self._audit = audit
        self._clock = clock
        self._access = access
        self._unknown_rule = lockout.rule(access.max_attempts)
        # Counted only, never blocking: a known user over the rate is slowed, not locked out.
        self._rate_rule = CounterRule(limit=None, window_seconds=access.rate_window_seconds)

    async def decide(self, actor: Actor, action: str) -> Decision:
        """Decide whether ``actor`` may run ``action`` now."""
        ref = actor_ref(actor)
        block = await self._lockout.blocked(actor.lockout_keys())
        if block is not None:
            await self._audit.record(Kind.ACCESS_BLOCKED, actor=ref, action=action)
            return Decision(Verdict.DROP, "blocked", reply=DENIED)
        user = await self._directory.resolve(actor)
        if user is None:
            return await self._unknown(actor, ref, action)
        return await self._known(actor, ref, user, action)

    async def _unknown(self, actor: Actor, ref: str, action: str) -> Decision:
        keys = actor.lockout_keys()
        hit = await self._lockout.hit(keys[0], self._unknown_rule) if keys else None
        if hit is None or not hit.counted:
            await self._audit.record(Kind.ACCESS_BLOCKED, actor=ref, action=action)
            return Decision(Verdict.DROP, "blocked", reply=DENIED)
        left = max(self._access.max_attempts - hit.count, 0)
        await self._audit.record(Kind.ACCESS_UNKNOWN, actor=ref, action=action, attempt=hit.count)
        if hit.alert_due or hit.newly_blocked:
            title = (
                "Unknown user blocked after repeated attempts"
                if hit.newly_blocked
                else "Unauthorized access attempt"
            )
            await self._alerts.raise_alert(
                Alert(
                    "blocked" if hit.newly_blocked else "unauthorized",
                    title,
                    self._clock.now(),
                    username=actor.username or actor.display_name,
                    user_id=actor.telegram_id,
                    attempt=hit.count,
                    attempts_left=left,
                    token_hint=actor.telegram_id is not None,
                )
            )
        if hit.newly_blocked:
            await self._audit.record(Kind.ACCESS_BLOCKED, actor=ref, action=action)
            return Decision(Verdict.DROP, "blocked now")
        if action == self._access.setup_action:
            return Decision(Verdict.ALLOW, "setup")
        return Decision(Verdict.DROP, "unknown")

    async def _over_rate(self, ref: str, action: str) -> bool:
        limit = self._access.rate_limit
        if not limit:
            return False
        hit = await self._lockout.hit(f"rate:{ref}", self._rate_rule)
        if hit.count == limit + 1:  # audit once per window, not once per dropped request
            await self._audit.record(
                Kind.ACCESS_THROTTLED, actor=ref, action=action, count=hit.count
            )
        return hit.count > limit

    async def _known(self, actor: Actor, ref: str, user: User, action: str) -> Decision:
        if await self._over_rate(ref, action):
            return Decision(Verdict.DROP, "rate", user)
        rule = self._policy.rule_for(action)
        if user.locked or rule is None or not user.has_role(rule.role):
            reason = "locked" if user.locked else ("unknown action" if rule is None else "role")
            await self._audit.record(Kind.ACCESS_DENIED, actor=ref, action=action, reason=reason)
            return Decision(Verdict.DENY, reason, user, DENIED)
        if rule.needs_2fa:
            if not await self._totp.is_enrolled(user):
                await self._audit.record(
                    Kind.ACCESS_DENIED, actor=ref, action=action, reason="no second factor"
                )
                return Decision(Verdict.DENY, "no second factor", user, NEEDS_ENROLMENT)
            mfa_at = actor.mfa_at or await self._elevations.granted_at(
                user.id, self._channel(actor)
            )
            if not self._sessions.mfa_fresh(mfa_at):
                return Decision(Verdict.ASK_TOTP, "fresh 2FA needed", user)
        if rule.needs_2fa or rule.role is Role.ADMIN:
            await self._audit.record(Kind.ACCESS_GRANTED, actor=ref, action=action)
        return Decision(Verdict.ALLOW, "allowed", user)

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
