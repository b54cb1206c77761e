"""A console request's access work in one SQLAlchemy transaction (PostgreSQL, SQLite in memory).

The session is renewed with one conditional ``UPDATE ... RETURNING`` (on PostgreSQL its row stays
locked until the commit), its account and confirmed factor are read, and the decision's plan, if
any, runs through :meth:`.decisions.SqlDecisions.decide_in` in the same transaction: the
counter's row is claimed (locked) before the blocks are read, as for any decision. An SQLite
file takes :mod:`.sqlite_views` instead, inside its decision batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from hostwarden.core.viewing import SessionView
from hostwarden.storage.sql import tables as t
from hostwarden.storage.sql.accounts import SqlUsers, _session
from hostwarden.storage.sql.db import Database
from hostwarden.storage.sql.decisions import SqlDecisions

if TYPE_CHECKING:
    from hostwarden.core.viewing import ViewPlan


class SqlViews:
    """A :class:`~hostwarden.storage.views.SessionViewStore` over :class:`~.db.Database`."""

    def __init__(self, db: Database, users: SqlUsers, decisions: SqlDecisions) -> None:
        self._db = db
        self._users = users
        self._decisions = decisions

    async def view(self, plan: ViewPlan) -> SessionView:
        s, f = t.sessions.c, t.totp_factors.c
        touch = (
            update(t.sessions)
            .where(
                s.token_hash == plan.token_hash,
                s.last_seen > plan.idle_after,
                s.created_at > plan.created_after,
            )
            .values(last_seen=plan.now)
            .returning(*t.sessions.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(touch)).first()
            if row is None:
                return SessionView(None)
            record = _session(row)
            confirmed = (
                select(f.confirmed).where(f.user_id == t.users.c.id).scalar_subquery()
            ).label("confirmed")
            found = (
                await conn.execute(select(t.users, confirmed).where(t.users.c.id == record.user_id))
            ).first()
            stored = await self._users.load(conn, found) if found is not None else None
            enrolled = found is not None and bool(found.confirmed)
            decision = plan.decision(record, stored, enrolled)
            result = (
                await self._decisions.decide_in(conn, decision) if decision is not None else None
            )
        return SessionView(record, stored, enrolled, result)
