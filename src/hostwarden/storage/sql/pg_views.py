"""A console request's access work on PostgreSQL through asyncpg, in one transaction.

:class:`~.pg_decisions.PgDecisions` runs each :class:`~hostwarden.core.viewing.ViewPlan` on its
writer's connection, in a transaction of its own (a failed view never fails another caller's
decision): one statement renews the session (a conditional ``UPDATE ... RETURNING``, its row
locked until the commit) and returns it with its account, Telegram IDs and confirmed factor;
then the decision's plan, if any, takes :mod:`.pg_batch`'s statements as a batch of one (its
counter claimed and locked before the blocks are read). Seven round trips with BEGIN and COMMIT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hostwarden.core.identity import Role, User
from hostwarden.core.viewing import SessionView
from hostwarden.storage.base import SessionRecord
from hostwarden.storage.sql.pg_batch import Connection, aware, naive, read, write

if TYPE_CHECKING:
    from hostwarden.core.viewing import ViewPlan

TOUCH = """
WITH touched AS (
    UPDATE sessions SET last_seen = $2::timestamp
    WHERE token_hash = $1 AND last_seen > $3::timestamp AND created_at > $4::timestamp
    RETURNING token_hash, user_id, created_at, last_seen, ip, user_agent, mfa_at
)
SELECT s.token_hash, s.user_id, s.created_at, s.last_seen, s.ip, s.user_agent, s.mfa_at,
    u.id AS account, u.username, u.roles, u.password_hash, u.locked,
    u.created_at AS account_created,
    ARRAY(SELECT i.telegram_id FROM user_telegram_ids i WHERE i.user_id = u.id
        ORDER BY i.telegram_id) AS telegram_ids,
    (SELECT z.confirmed FROM totp_factors z WHERE z.user_id = u.id) AS confirmed
FROM touched s LEFT JOIN users u ON u.id = s.user_id
"""


async def view_on(conn: Connection, plan: ViewPlan) -> SessionView:
    """Run ``plan`` in one transaction on ``conn``; returns once it has committed."""
    async with conn.transaction():
        rows = await conn.fetch(
            TOUCH, plan.token_hash, naive(plan.now), naive(plan.idle_after),
            naive(plan.created_after),
        )  # fmt: skip
        if not rows:
            return SessionView(None)
        row = rows[0]
        created, seen = aware(row["created_at"]), aware(row["last_seen"])
        assert created is not None and seen is not None
        record = SessionRecord(
            row["token_hash"], row["user_id"], created, seen, row["ip"], row["user_agent"],
            aware(row["mfa_at"]),
        )  # fmt: skip
        stored = None
        if row["account"] is not None:
            roles = frozenset(Role(v) for v in (row["roles"] or "").split(",") if v)
            stored = User(
                row["account"], row["username"], tuple(row["telegram_ids"]), roles,
                row["password_hash"], bool(row["locked"]), aware(row["account_created"]),
            )  # fmt: skip
        enrolled = stored is not None and bool(row["confirmed"])
        decision = plan.decision(record, stored, enrolled)
        if decision is None:
            return SessionView(record, stored, enrolled)
        reads = await read(conn, [decision])
        result = decision.evaluate(reads)
        reads.keep(result)
        [stored_result] = await write(conn, [decision], [result], reads)
        assert not isinstance(stored_result, Exception)
        return SessionView(record, stored, enrolled, stored_result)
