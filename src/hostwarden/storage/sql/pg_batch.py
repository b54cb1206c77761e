"""One batch of guard decisions on PostgreSQL: one transaction of four statements, however many.

Inside one transaction: (1) the actors' accounts (with their Telegram IDs and, when a plan may
need it, their second factor) by Telegram ID or name; (2) their counter rows, claimed with one
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` over every key, in key order: PostgreSQL
holds each row's lock until the commit, so another process deciding for the same actor waits
here and then reads what this batch wrote; (3) the blocks on every plan's keys, read in a
statement of their own, after the locks are held, so a block another process made while this
one waited is seen; then every plan is evaluated in order over those reads plus the writes of
the plans before it (two plans for one stranger count twice), and (4) one statement writes the
counters, blocks, alerts and audit events of the whole batch. Values are stored the way the
SQLAlchemy schema stores them (naive UTC timestamps, JSON text, roles as ``"admin,user"``), so
the ORM's repositories read these rows and this path reads theirs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from hostwarden.core.identity import Role, User
from hostwarden.errors import StorageError
from hostwarden.storage.base import Block
from hostwarden.storage.counting import CounterState
from hostwarden.storage.sql.pg_statements import BLOCKS, CLAIM, USERS, WRITE

if TYPE_CHECKING:
    from hostwarden.core.decision import DecisionPlan, DecisionResult

LOG = logging.getLogger("hostwarden.store")


class Record(Protocol):
    """The part of ``asyncpg.Record`` used here."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of ``asyncpg.Connection`` used here."""

    async def fetch(self, query: str, *args: object) -> list[Record]: ...
    def transaction(self) -> AbstractAsyncContextManager[object]: ...


def naive(value: datetime | None) -> datetime | None:
    """A datetime as the schema stores it: naive UTC (``timestamp without time zone``)."""
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _at(value: datetime | None) -> datetime:
    assert value is not None
    return value.replace(tzinfo=UTC)


def _user(row: Record) -> User:
    roles = frozenset(Role(v) for v in (row["roles"] or "").split(",") if v)
    return User(
        row["id"],
        row["username"],
        tuple(row["telegram_ids"]),
        roles,
        row["password_hash"],
        bool(row["locked"]),
        aware(row["created_at"]),
    )


@dataclasses.dataclass(slots=True)
class BatchReads:
    """A :class:`~hostwarden.core.decision.DecisionReader` over what the batch read, with the
    writes of the plans evaluated so far laid over it."""

    users: dict[int | str, User]  # by Telegram ID, or by casefolded name
    factors: dict[int, tuple[bool, dict[str, datetime]]]
    counters: dict[str, CounterState | None]  # the claimed keys; None: no row before
    blocks: dict[str, Block]
    now: datetime
    written: dict[str, CounterState] = dataclasses.field(default_factory=dict)
    new_blocks: dict[str, Block] = dataclasses.field(default_factory=dict)

    def block(self, keys: tuple[str, ...]) -> Block | None:
        for key in keys:
            found = self.blocks.get(key)
            if found is not None and found.active(self.now):
                return found
        return None

    def user(self, telegram_id: int | None, username: str | None) -> User | None:
        if telegram_id is not None:
            return self.users.get(telegram_id)
        return self.users.get(username.casefold()) if username is not None else None

    def counter(self, key: str) -> CounterState | None:
        if key not in self.counters:  # never read a counter without holding its row
            raise StorageError("a decision read a counter it had not claimed")
        return self.counters[key]

    def factor(self, user_id: int, channel: str) -> tuple[bool, datetime | None]:
        if user_id not in self.factors:
            raise StorageError("a decision read a second factor it had not asked for")
        confirmed, granted = self.factors[user_id]
        return confirmed, granted.get(channel)

    def keep(self, result: DecisionResult) -> None:
        """Lay a plan's writes over the reads, for the plans after it."""
        writes = result.writes
        if writes.counter is not None:
            key, state = writes.counter
            self.counters[key] = self.written[key] = state
        if writes.block is not None:
            self.blocks[writes.block.key] = self.new_blocks[writes.block.key] = writes.block


def _stored(users: dict[int | str, User], plan: DecisionPlan) -> User | None:
    actor = plan.actor
    if actor.telegram_id is not None:
        return users.get(actor.telegram_id)
    return users.get(actor.username.casefold()) if actor.username is not None else None


async def read(conn: Connection, plans: Sequence[DecisionPlan]) -> BatchReads:
    """Statements (1) to (3): accounts and factors, counter claims, blocks."""
    telegram_ids = sorted({p.actor.telegram_id for p in plans if p.actor.telegram_id is not None})
    names = sorted(
        {
            p.actor.username.casefold()
            for p in plans
            if p.actor.telegram_id is None and p.actor.username is not None
        }
    )
    users: dict[int | str, User] = {}
    factors: dict[int, tuple[bool, dict[str, datetime]]] = {}
    if telegram_ids or names:
        wants_factor = any(p.wants_factor for p in plans)
        for row in await conn.fetch(USERS, telegram_ids, names, wants_factor):
            user = _user(row)
            users[row["by_telegram"] if row["by_name"] is None else row["by_name"]] = user
            if wants_factor:
                granted = dict(zip(row["channels"], map(_at, row["granted"]), strict=True))
                factors[user.id] = (bool(row["confirmed"]), granted)
    keys = sorted({k for p in plans if (k := p.counter_key(_stored(users, p))) is not None})
    counters: dict[str, CounterState | None] = {}
    if keys:
        for key, count, start, level, seen, alerted, fresh in await conn.fetch(
            CLAIM, keys, naive(plans[0].now)
        ):
            state = CounterState(count, _at(start), level, _at(seen), aware(alerted))
            counters[key] = None if fresh else state
    block_keys = sorted({k for p in plans for k in p.block_keys})
    blocks: dict[str, Block] = {}
    if block_keys:
        for row in await conn.fetch(BLOCKS, block_keys):
            blocks[row[0]] = Block(row[0], aware(row[1]), row[2], row[3], _at(row[4]))
    return BatchReads(users, factors, counters, blocks, plans[0].now)


def _outbox_rows(
    plans: Sequence[DecisionPlan], results: Sequence[DecisionResult | Exception]
) -> list[tuple[Any, ...]]:
    """Plain alerts in decision order, then one digest row per bucket (counts summed), by bucket."""
    plain: list[tuple[Any, ...]] = []
    digests: dict[str, list[Any]] = {}
    for plan, result in zip(plans, results, strict=True):
        if isinstance(result, Exception):
            continue
        for entry in result.writes.outbox:
            if entry.bucket is not None and entry.deliver_at is not None:
                if entry.bucket in digests:
                    digests[entry.bucket][4] += 1
                else:  # the first fold of a bucket creates it, as a lone fold would
                    first = [naive(plan.now), entry.text, naive(entry.deliver_at), entry.bucket, 1]
                    digests[entry.bucket] = first
            else:
                plain.append((naive(plan.now), entry.text, naive(plan.now), None, 1))
    return plain + [tuple(digests[bucket]) for bucket in sorted(digests)]


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)] if rows else [[] for _ in range(width)]


async def write(
    conn: Connection,
    plans: Sequence[DecisionPlan],
    results: Sequence[DecisionResult | Exception],
    reads: BatchReads,
) -> list[DecisionResult | Exception]:
    """Statement (4): every write of the batch; the results with their events' new ids."""
    counters = [
        (key, s.count, naive(s.window_start), s.level, naive(s.last_seen), naive(s.last_alert))
        for key, s in sorted(reads.written.items())
    ]
    unused = sorted(k for k, s in reads.counters.items() if s is None and k not in reads.written)
    blocks = [
        (b.key, naive(b.until), b.reason, b.level, naive(b.created_at))
        for _, b in sorted(reads.new_blocks.items())
    ]
    outbox = _outbox_rows(plans, results)
    events = [
        (naive(e.at), e.kind, e.actor[:300], e.subject[:300], json.dumps(e.detail))
        for r in results
        if not isinstance(r, Exception)
        for e in r.writes.events
    ]
    if not (counters or unused or blocks or outbox or events):
        return list(results)
    rows = await conn.fetch(
        WRITE,
        *_columns(counters, 6),
        unused,
        *_columns(blocks, 5),
        *_columns(outbox, 5),
        *_columns(events, 5),
    )
    if len(rows) != len(events):
        raise StorageError("the audit events of a batch were not all stored")
    ids = iter(row[0] for row in rows)
    stored: list[DecisionResult | Exception] = []
    for result in results:
        if isinstance(result, Exception):
            stored.append(result)
            continue
        with_ids = [dataclasses.replace(e, id=next(ids)) for e in result.writes.events]
        writes = dataclasses.replace(result.writes, events=with_ids)
        stored.append(dataclasses.replace(result, writes=writes))
    return stored


async def decide_batch(
    conn: Connection, plans: Sequence[DecisionPlan]
) -> list[DecisionResult | Exception]:
    """Every plan of a batch in one transaction; a plan whose evaluation fails gets its error.

    Returns once the transaction has committed; any database error fails the whole batch.
    """
    async with conn.transaction():
        reads = await read(conn, plans)
        results: list[DecisionResult | Exception] = []
        for plan in plans:
            reads.now = plan.now
            try:
                result = plan.evaluate(reads)
            except Exception as exc:  # this plan alone failed: it wrote nothing, others go on
                LOG.exception("decision failed")
                results.append(exc)
                continue
            reads.keep(result)
            results.append(result)
        return await write(conn, plans, results, reads)
