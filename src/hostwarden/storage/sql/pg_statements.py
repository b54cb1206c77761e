"""The statements of a PostgreSQL decision batch (:mod:`.pg_batch`), on the schema's tables.

Each takes whole columns as arrays (``unnest``), so one statement serves every plan of a batch.
"""

from __future__ import annotations

USERS = """
WITH found AS (
    SELECT t.telegram_id AS by_telegram, NULL::text AS by_name, u.id, u.username, u.roles,
        u.password_hash, u.locked, u.created_at
    FROM user_telegram_ids t JOIN users u ON u.id = t.user_id
    WHERE t.telegram_id = ANY($1::bigint[])
    UNION ALL
    SELECT NULL, u.username_key, u.id, u.username, u.roles, u.password_hash, u.locked,
        u.created_at
    FROM users u WHERE u.username_key = ANY($2::text[])
)
SELECT f.by_telegram, f.by_name, f.id, f.username, f.roles, f.password_hash, f.locked,
    f.created_at,
    ARRAY(SELECT i.telegram_id FROM user_telegram_ids i WHERE i.user_id = f.id
        ORDER BY i.telegram_id) AS telegram_ids,
    CASE WHEN $3::boolean THEN
        (SELECT z.confirmed FROM totp_factors z WHERE z.user_id = f.id) END AS confirmed,
    CASE WHEN $3::boolean THEN ARRAY(SELECT e.channel FROM elevations e WHERE e.user_id = f.id
        ORDER BY e.channel) END AS channels,
    CASE WHEN $3::boolean THEN ARRAY(SELECT e.granted_at FROM elevations e
        WHERE e.user_id = f.id ORDER BY e.channel) END AS granted
FROM found f
"""

# "Updating" an existing row to itself returns it locked; xmax = 0 tells a row this statement
# inserted, which the decision reads as no row at all (as the other backends have none).
CLAIM = """
INSERT INTO counters AS c (key, count, window_start, level, last_seen, last_alert)
SELECT k, 0, $2::timestamp, 0, $2::timestamp, NULL FROM unnest($1::text[]) AS k ORDER BY k
ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
RETURNING c.key, c.count, c.window_start, c.level, c.last_seen, c.last_alert, c.xmax = 0
"""

# A statement of its own, after CLAIM: a statement reads the snapshot taken when it started, so
# CLAIM itself would miss a block committed by the process whose row lock it waited for.
BLOCKS = """
SELECT key, until, reason, level, created_at FROM blocks WHERE key = ANY($1::text[])
"""

# Rows are written in the order given: blocks by key, then plain alerts in decision order and
# digests by bucket (a fixed lock order, so two processes never deadlock), and audit events in
# decision order, so their ids follow the decisions.
WRITE = """
WITH counted AS (
    UPDATE counters c SET count = v.count, window_start = v.window_start, level = v.level,
        last_seen = v.last_seen, last_alert = v.last_alert
    FROM unnest($1::text[], $2::integer[], $3::timestamp[], $4::integer[], $5::timestamp[],
        $6::timestamp[]) AS v(key, count, window_start, level, last_seen, last_alert)
    WHERE c.key = v.key
), unused AS (
    DELETE FROM counters WHERE key = ANY($7::text[])
), blocked AS (
    INSERT INTO blocks (key, until, reason, level, created_at)
    SELECT v.key, v.until, v.reason, v.level, v.created_at
    FROM unnest($8::text[], $9::timestamp[], $10::text[], $11::integer[], $12::timestamp[])
        WITH ORDINALITY AS v(key, until, reason, level, created_at, n)
    ORDER BY v.n
    ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until, reason = EXCLUDED.reason,
        level = EXCLUDED.level, created_at = EXCLUDED.created_at
), queued AS (
    INSERT INTO outbox AS o (created_at, text, next_attempt_at, bucket, count)
    SELECT v.created_at, v.text, v.next_attempt_at, v.bucket, v.count
    FROM unnest($13::timestamp[], $14::text[], $15::timestamp[], $16::text[], $17::integer[])
        WITH ORDINALITY AS v(created_at, text, next_attempt_at, bucket, count, n)
    ORDER BY v.n
    ON CONFLICT (bucket) DO UPDATE SET count = o.count + EXCLUDED.count
)
INSERT INTO audit_events (at, kind, actor, subject, detail)
SELECT v.at, v.kind, v.actor, v.subject, v.detail::json
FROM unnest($18::timestamp[], $19::text[], $20::text[], $21::text[], $22::text[])
    WITH ORDINALITY AS v(at, kind, actor, subject, detail, n)
ORDER BY v.n
RETURNING id
"""
