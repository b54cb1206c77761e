"""A console request's access work on SQLite, inside the decision store's transaction.

:class:`~.sqlite_decisions.SqliteDecisions` queues a :class:`~hostwarden.core.viewing.ViewPlan`
beside its decisions; the flush runs it here under the same ``BEGIN IMMEDIATE``: the session is
renewed with one conditional ``UPDATE ... RETURNING`` (SQLite 3.35+), its account and factor are
read by primary key, and the decision's plan, if any, goes through :func:`.sqlite_rows.decide_in`.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from hostwarden.core.identity import Role, User
from hostwarden.core.viewing import SessionView, ViewPlan
from hostwarden.storage.base import SessionRecord
from hostwarden.storage.sql.sqlite_rows import decide_in, stamp, unstamp

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan, DecisionResult
    from hostwarden.storage.sql.sqlite_cache import ReadCache

_TOUCH = (
    "UPDATE sessions SET last_seen = ? WHERE token_hash = ? AND last_seen > ? "
    "AND created_at > ? RETURNING token_hash, user_id, created_at, last_seen, ip, user_agent, "
    "mfa_at"
)
_USER = (
    "SELECT u.id, u.username, u.roles, u.password_hash, u.locked, u.created_at, "
    "(SELECT confirmed FROM totp_factors WHERE user_id = u.id) FROM users u WHERE u.id = ?"
)
_TELEGRAM_IDS = "SELECT telegram_id FROM user_telegram_ids WHERE user_id = ? ORDER BY telegram_id"


def _record(row: tuple[object, ...]) -> SessionRecord:
    token_hash, user_id, created, seen, ip, agent, mfa_at = row
    created_at, last_seen = unstamp(str(created)), unstamp(str(seen))
    assert created_at is not None and last_seen is not None
    return SessionRecord(
        str(token_hash), int(str(user_id)), created_at, last_seen,
        None if ip is None else str(ip), None if agent is None else str(agent),
        None if mfa_at is None else unstamp(str(mfa_at)),
    )  # fmt: skip


def view_in(conn: sqlite3.Connection, plan: ViewPlan, cache: ReadCache | None) -> SessionView:
    """Run ``plan`` inside ``conn``'s open transaction."""
    params = (stamp(plan.now), plan.token_hash, stamp(plan.idle_after), stamp(plan.created_after))
    row = conn.execute(_TOUCH, params).fetchone()
    if row is None:
        return SessionView(None)
    record = _record(row)
    found = conn.execute(_USER, (record.user_id,)).fetchone()
    stored, enrolled = None, False
    if found is not None:
        ids = tuple(r[0] for r in conn.execute(_TELEGRAM_IDS, (found[0],)))
        roles = frozenset(Role(v) for v in (found[2] or "").split(",") if v)
        stored = User(found[0], found[1], ids, roles, found[3], bool(found[4]), unstamp(found[5]))
        enrolled = bool(found[6])
    decision = plan.decision(record, stored, enrolled)
    result = decide_in(conn, decision, cache) if decision is not None else None
    return SessionView(record, stored, enrolled, result)


def step_in(
    conn: sqlite3.Connection, work: DecisionPlan | ViewPlan, cache: ReadCache | None
) -> DecisionResult | SessionView:
    """A queued decision or view, inside ``conn``'s open transaction."""
    if isinstance(work, ViewPlan):
        return view_in(conn, work, cache)
    return decide_in(conn, work, cache)
