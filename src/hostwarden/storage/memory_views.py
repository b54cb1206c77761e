"""A console request's access work on the memory store: one call with no await in between.

The session's renewal, the account, the factor and the decision's reads and writes never
suspend (the memory stores' coroutines return without awaiting anything), so no other task runs
between them: the step is as atomic as the SQL stores' transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hostwarden.core.viewing import SessionView

if TYPE_CHECKING:
    from hostwarden.core.viewing import ViewPlan
    from hostwarden.storage.memory import MemoryStore


class MemoryViews:
    """The memory store's :class:`~hostwarden.storage.views.SessionViewStore`."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def view(self, plan: ViewPlan) -> SessionView:
        store = self._store
        record = await store.sessions.touch(
            plan.token_hash, plan.now, plan.idle_after, plan.created_after
        )
        if record is None:
            return SessionView(None)
        stored = await store.users.by_id(record.user_id)
        enrolled = stored is not None and store.totp.enrolled(stored.id)
        decision = plan.decision(record, stored, enrolled)
        result = await store.decisions.decide(decision) if decision is not None else None
        return SessionView(record, stored, enrolled, result)
