"""The store's protocol for a console request's access work in one step (see core/viewing.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hostwarden.core.viewing import SessionView, ViewPlan


class SessionViewStore(Protocol):
    """Runs a :class:`~hostwarden.core.viewing.ViewPlan` in one transaction.

    In order, under the store's lock (SQLite's write lock, PostgreSQL's row locks, or the event
    loop): renew the session ``plan.token_hash`` only while ``last_seen > plan.idle_after`` and
    ``created_at > plan.created_after`` (as :meth:`SessionStore.touch`); if it is live, read its
    account by id and whether that account has a confirmed TOTP factor; then, if
    ``plan.decision(...)`` gives a plan, decide it as :meth:`DecisionStore.decide` would, in the
    same transaction. Everything commits together before the answer.
    """

    async def view(self, plan: ViewPlan) -> SessionView: ...
