"""The decision store's reads and writes on SQLite, as plain SQL on the schema's tables.

Values are stored as SQLAlchemy stores them there (naive UTC timestamps with microseconds, JSON
text), so the ORM's repositories and this hot path read each other's rows; the contract suite
checks it.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from hostwarden.core.decision import DecisionResult, DecisionWrites
from hostwarden.core.identity import Role, User
from hostwarden.storage.base import AuditEvent, Block
from hostwarden.storage.counting import CounterState

T = TypeVar("T")

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan
    from hostwarden.storage.sql.sqlite_cache import ReadCache

_BLOCK = (
    "SELECT key, until, reason, level, created_at FROM blocks WHERE key IN ({marks}) "
    "AND (until IS NULL OR until > ?) LIMIT 1"
)
_BLOCKS_BY_KEY = "SELECT key, until, reason, level, created_at FROM blocks WHERE key IN ({marks})"
_USER_BY_TELEGRAM = (
    "SELECT u.id, u.username, u.roles, u.password_hash, u.locked, u.created_at FROM users u "
    "JOIN user_telegram_ids t ON t.user_id = u.id WHERE t.telegram_id = ?"
)
_USER_BY_NAME = (
    "SELECT id, username, roles, password_hash, locked, created_at FROM users "
    "WHERE username_key = ?"
)
_TELEGRAM_IDS = "SELECT telegram_id FROM user_telegram_ids WHERE user_id = ? ORDER BY telegram_id"
_COUNTER = "SELECT count, window_start, level, last_seen, last_alert FROM counters WHERE key = ?"
_COUNTERS = (
    "SELECT key, count, window_start, level, last_seen, last_alert FROM counters "
    "WHERE key IN ({marks})"
)
_LINKED = "SELECT telegram_id FROM user_telegram_ids WHERE telegram_id IN ({marks})"
CHUNK = 500  # parameters per statement, well under SQLite's limit
_FACTOR = (
    "SELECT (SELECT confirmed FROM totp_factors WHERE user_id = ?), "
    "(SELECT granted_at FROM elevations WHERE user_id = ? AND channel = ?)"
)
PUT_COUNTER = (
    "INSERT INTO counters (key, count, window_start, level, last_seen, last_alert) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET count = excluded.count, "
    "window_start = excluded.window_start, level = excluded.level, "
    "last_seen = excluded.last_seen, last_alert = excluded.last_alert"
)
_PUT_BLOCK = (
    "INSERT INTO blocks (key, until, reason, level, created_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET until = excluded.until, reason = excluded.reason, "
    "level = excluded.level, created_at = excluded.created_at"
)
_APPEND = (
    "INSERT INTO audit_events (at, kind, actor, subject, detail) VALUES (?, ?, ?, ?, ?) "
    "RETURNING id"
)
APPEND_WITH_ID = (
    "INSERT INTO audit_events (id, at, kind, actor, subject, detail) VALUES (?, ?, ?, ?, ?, ?)"
)
_PUT_ALERT = "INSERT INTO outbox (created_at, text, next_attempt_at, count) VALUES (?, ?, ?, 1)"
_FOLD_ALERT = (
    "INSERT INTO outbox (created_at, text, next_attempt_at, bucket, count) "
    "VALUES (?, ?, ?, ?, 1) ON CONFLICT (bucket) DO UPDATE SET count = outbox.count + 1"
)


def _chunks(values: list[T]) -> list[list[T]]:
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]


# A decision stamps its ``now`` and its counter's window start, which earlier decisions stamped:
# remembered here (a dict: functools.lru_cache's bookkeeping cost more than the formatting).
_STAMPS: dict[datetime, str] = {}
MAX_STAMPS = 1024


def stamp(value: datetime | None) -> str | None:
    """A datetime as the schema stores it in SQLite: naive UTC, microseconds."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # a local time in a DST fold equals its twin: no memo
        return _stamp(value)
    text = _STAMPS.get(value)
    if text is None:
        if len(_STAMPS) >= MAX_STAMPS:
            _STAMPS.clear()
        text = _STAMPS[value] = _stamp(value)
    return text


def _stamp(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # What isoformat(sep=" ", timespec="microseconds") writes, in half the time.
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        value.year, value.month, value.day, value.hour, value.minute, value.second,
        value.microsecond,
    )  # fmt: skip


def counter_row(key: str, state: CounterState) -> tuple[object, ...]:
    """The parameters of :data:`PUT_COUNTER` for ``state`` under ``key``."""
    return (
        key, state.count, stamp(state.window_start), state.level, stamp(state.last_seen),
        stamp(state.last_alert),
    )  # fmt: skip


def unstamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class Reads:
    """The decision's reads, inside the writer's open transaction."""

    def __init__(self, conn: sqlite3.Connection, now: datetime | None) -> None:
        self._conn = conn
        self._now = now

    def block(self, keys: tuple[str, ...]) -> Block | None:
        if not keys:
            return None
        sql = _BLOCK.format(marks=",".join("?" * len(keys)))
        row = self._conn.execute(sql, (*keys, stamp(self._now))).fetchone()
        if row is None:
            return None
        created = unstamp(row[4])
        assert created is not None
        return Block(row[0], unstamp(row[1]), row[2], row[3], created)

    def blocks_by_key(self, keys: list[str]) -> dict[str, Block]:
        """The block rows on ``keys``, in force or not (a cache checks ``active`` itself)."""
        found = {}
        for chunk in _chunks(keys):
            sql = _BLOCKS_BY_KEY.format(marks=",".join("?" * len(chunk)))
            for key, until, reason, level, created in self._conn.execute(sql, chunk):
                found[key] = Block(key, unstamp(until), reason, level, _at(created))
        return found

    def linked_ids(self, telegram_ids: list[int]) -> set[int]:
        """Which of ``telegram_ids`` belong to an account."""
        found: set[int] = set()
        for chunk in _chunks(telegram_ids):
            sql = _LINKED.format(marks=",".join("?" * len(chunk)))
            found.update(row[0] for row in self._conn.execute(sql, chunk))
        return found

    def counters(self, keys: list[str]) -> dict[str, CounterState | None]:
        """The counters on ``keys`` (``None`` where there is no row)."""
        found: dict[str, CounterState | None] = dict.fromkeys(keys)
        for chunk in _chunks(keys):
            sql = _COUNTERS.format(marks=",".join("?" * len(chunk)))
            for key, count, window_start, level, last_seen, last_alert in self._conn.execute(
                sql, chunk
            ):
                found[key] = CounterState(
                    count, _at(window_start), level, _at(last_seen), unstamp(last_alert)
                )
        return found

    def user(self, telegram_id: int | None, username: str | None) -> User | None:
        if telegram_id is not None:
            row = self._conn.execute(_USER_BY_TELEGRAM, (telegram_id,)).fetchone()
        elif username is not None:
            row = self._conn.execute(_USER_BY_NAME, (username.casefold(),)).fetchone()
        else:
            return None
        if row is None:
            return None
        ids = tuple(r[0] for r in self._conn.execute(_TELEGRAM_IDS, (row[0],)))
        roles = frozenset(Role(v) for v in (row[2] or "").split(",") if v)
        return User(row[0], row[1], ids, roles, row[3], bool(row[4]), unstamp(row[5]))

    def counter(self, key: str) -> CounterState | None:
        row = self._conn.execute(_COUNTER, (key,)).fetchone()
        if row is None:
            return None
        window_start, last_seen = unstamp(row[1]), unstamp(row[3])
        assert window_start is not None and last_seen is not None
        return CounterState(row[0], window_start, row[2], last_seen, unstamp(row[4]))

    def factor(self, user_id: int, channel: str) -> tuple[bool, datetime | None]:
        confirmed, granted = self._conn.execute(_FACTOR, (user_id, user_id, channel)).fetchone()
        return bool(confirmed), unstamp(granted)


def write(
    conn: sqlite3.Connection, writes: DecisionWrites, now: datetime, cache: ReadCache | None
) -> list[AuditEvent]:
    """Store a decision's writes. With ``cache``, its counter and audit rows are left to the
    cache, which writes them all before the commit (the events get their ids now)."""
    if cache is None and writes.counter is not None:
        conn.execute(PUT_COUNTER, counter_row(*writes.counter))
    if writes.block is not None:
        block = writes.block
        conn.execute(
            _PUT_BLOCK,
            (block.key, stamp(block.until), block.reason, block.level, stamp(block.created_at)),
        )
    stored = []
    for event in writes.events:
        at, kind, actor, subject = event.at, event.kind, event.actor[:300], event.subject[:300]
        detail = json.dumps(event.detail)
        if cache is None:
            (new_id,) = conn.execute(_APPEND, (stamp(at), kind, actor, subject, detail)).fetchone()
        else:
            new_id = cache.event_id(conn)
            cache.events.append((new_id, stamp(at), kind, actor, subject, detail))
        stored.append(AuditEvent(event.kind, at, event.actor, event.subject, event.detail, new_id))
    for entry in writes.outbox:
        if entry.bucket is not None and entry.deliver_at is not None:
            conn.execute(
                _FOLD_ALERT, (stamp(now), entry.text, stamp(entry.deliver_at), entry.bucket)
            )
        else:
            conn.execute(_PUT_ALERT, (stamp(now), entry.text, stamp(now)))
    return stored


def decide_in(
    conn: sqlite3.Connection, plan: DecisionPlan, cache: ReadCache | None = None
) -> DecisionResult:
    """Read, evaluate and write one plan inside ``conn``'s open transaction.

    With ``cache`` (checked in this transaction), accounts, blocks and counters are read from
    it, and the counter moved is left to it to write before the commit.
    """
    now = plan.now
    result = plan.evaluate(Reads(conn, now) if cache is None else cache.reader(conn, now))
    writes = result.writes
    events = write(conn, writes, plan.now, cache)
    if cache is not None:
        cache.note(writes)
    if not events:  # nothing got an id: the result stands as evaluated
        return result
    stored = DecisionWrites(writes.counter, writes.block, events, writes.outbox)
    return DecisionResult(result.decision, stored)
