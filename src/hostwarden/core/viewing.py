"""A console request's access work as one store step: the session, its user, the decision.

Resolving a session cookie used to be four or five store transactions per page view (touch the
session, load its user, read the second factor, then the guard's decision). A :class:`ViewPlan`
says all of it to a :class:`~hostwarden.storage.views.SessionViewStore`, which inside one
transaction (or one call with no await in between, on memory) touches the session, reads its
user and whether they have a confirmed factor, asks :meth:`ViewPlan.decision` (pure, no I/O)
whether the guard must decide, and runs that decision's plan in the same transaction. Every rule
is the one it always was: the session's idle and absolute limits are the ``touch`` condition, a
revoked session is a missing row, the binding, the account and the second-factor step are checked
here exactly as :class:`~hostwarden.core.sessions.SessionManager` and the console checked them,
and the decision is :class:`~hostwarden.core.decision.DecisionPlan`'s (blocks, rate, role, host
grants, step-up freshness).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from hostwarden.core.decision import Decision, DecisionPlan, DecisionResult
from hostwarden.core.identity import Actor, Role, User
from hostwarden.core.sessions import hash_token
from hostwarden.storage.base import SessionRecord

if TYPE_CHECKING:
    from hostwarden.core.clock import Clock
    from hostwarden.core.directory import Directory
    from hostwarden.core.guard import Guard
    from hostwarden.core.sessions import SessionManager
    from hostwarden.storage.views import SessionViewStore

PlanMaker = Callable[[Actor, str, str | None], DecisionPlan]


@dataclass(frozen=True, slots=True)
class ViewPlan:
    """One request's access work: which session, from which client, for which action.

    ``action=None`` only resolves the viewer (no decision). The store calls :meth:`decision`
    with what it read; a session that is not bound to this client, an account that is gone or
    locked, or a second factor still owed gives ``None``: the guard is not asked.
    """

    token_hash: str
    now: datetime
    idle_after: datetime
    created_after: datetime
    ip: str | None
    user_agent: str | None
    action: str | None
    host: str | None
    bound: Callable[[SessionRecord, str | None, str | None], bool]
    resolve_user: Callable[[User], User | None]
    make_plan: PlanMaker

    def viewer(self, record: SessionRecord, stored: User | None) -> User | None:
        """The session's user as the directory sees them, if bound and not locked."""
        if not self.bound(record, self.ip, self.user_agent) or stored is None:
            return None
        user = self.resolve_user(stored)
        return user if user is not None and not user.locked else None

    def decision(
        self, record: SessionRecord, stored: User | None, enrolled: bool
    ) -> DecisionPlan | None:
        """The guard's plan for this request, or ``None`` when the guard is not to be asked."""
        user = self.viewer(record, stored)
        if self.action is None or user is None or second_factor_owed(record, user, enrolled):
            return None
        actor = Actor(
            username=user.username, ip=self.ip, user_agent=self.user_agent, mfa_at=record.mfa_at
        )
        return self.make_plan(actor, self.action, self.host)


def second_factor_owed(record: SessionRecord, user: User, enrolled: bool) -> bool:
    """Whether a half-logged-in session must pass its code (or, for an admin, enrol) first."""
    return record.mfa_at is None and (enrolled or user.has_role(Role.ADMIN))


@dataclass(frozen=True, slots=True)
class SessionView:
    """What the store read and decided for a :class:`ViewPlan`.

    ``record`` is ``None`` for no live session (expired, revoked, never issued); ``stored`` is
    the account as stored (``None`` if gone); ``result`` is set when the guard decided.
    """

    record: SessionRecord | None
    stored: User | None = None
    enrolled: bool = False
    result: DecisionResult | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """A request's viewer as the console needs it.

    ``user`` is ``None`` without a live, bound session of an existing, unlocked account;
    ``decision`` is ``None`` when the guard was not asked (no action, or a second factor owed).
    """

    record: SessionRecord | None
    user: User | None
    enrolled: bool
    decision: Decision | None


class Viewing:
    """The console's per-request access work through one :class:`SessionViewStore` step.

    A session used from another address or browser is ended, audited and alerted on as
    :meth:`SessionManager.validate` does (that rare path takes its own store calls).
    """

    def __init__(
        self,
        store: SessionViewStore,
        sessions: SessionManager,
        guard: Guard,
        directory: Directory,
        clock: Clock,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._guard = guard
        self._directory = directory
        self._clock = clock

    async def view(
        self,
        token: str,
        ip: str | None,
        user_agent: str | None,
        action: str | None = None,
        host: str | None = None,
    ) -> Sighting:
        """The viewer of ``token`` and, with ``action``, the guard's decision on it."""
        if not token:
            return Sighting(None, None, False, None)
        now = self._clock.now()
        idle_after, created_after = self._sessions.limits(now)
        plan = ViewPlan(
            hash_token(token), now, idle_after, created_after, ip, user_agent, action, host,
            self._sessions.bound, self._directory.resolve_user, self._guard.plan,
        )  # fmt: skip
        seen = await self._store.view(plan)
        if seen.record is None:
            return Sighting(None, None, False, None)
        if not self._sessions.bound(seen.record, ip, user_agent):
            await self._sessions.mismatch(seen.record, ip)
            return Sighting(None, None, False, None)
        decision = None
        if seen.result is not None:
            self._guard.logged(seen.result)
            decision = seen.result.decision
        return Sighting(seen.record, plan.viewer(seen.record, seen.stored), seen.enrolled, decision)
