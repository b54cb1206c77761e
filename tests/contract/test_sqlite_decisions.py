"""The SQLite decision store: a lone decision at once, group commit past the turn's budget, a
failing plan, another writer's lock, known users first, a user's counter once per batch."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hostwarden.core.audit import Kind
from hostwarden.core.decision import DecisionPlan, DecisionResult
from hostwarden.core.health import StoreHealth
from hostwarden.core.identity import Actor, Role, User
from hostwarden.errors import StorageError
from hostwarden.storage.base import AuditEvent, AuditQuery, Block
from hostwarden.storage.sql import SqlStore, sqlite_cache, sqlite_decisions
from hostwarden.storage.sql.availability import SqliteFile
from hostwarden.storage.sql.sqlite_decisions import (
    MAX_BATCH,
    SOLO_PER_TURN,
    SOLO_RUN_PER_TURN,
    SqliteDecisions,
)
from tests.contract.test_store_contract import DECISIONS, MAX_ATTEMPTS, at

FAILING = 999


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = SqlStore(str(tmp_path / "decisions.db"))
    await store.start()
    yield store
    await store.close()


def _plan(telegram_id: int, context: Any = DECISIONS) -> DecisionPlan:
    return DecisionPlan(Actor(telegram_id=telegram_id), "host.view", at(0), context)


def _turns_budget(store: SqlStore) -> list[Any]:
    """Strangers' decisions that use up this turn's decisions run at once (gathered first)."""
    return [store.decisions.decide(_plan(700 + n)) for n in range(SOLO_PER_TURN)]


async def test_a_lone_decision_is_answered_without_waiting_a_turn(
    sqlite_store: SqlStore,
) -> None:
    step = sqlite_store.decisions.decide(_plan(790))
    with pytest.raises(StopIteration) as finished:  # never suspended: no loop turn, no future
        step.send(None)
    assert finished.value.value.decision.reason == "unknown"
    events = await sqlite_store.audit.query(AuditQuery(limit=10))
    assert "tg:790" in [e.actor for e in events]  # committed before it was answered


async def test_one_task_deciding_again_before_it_yields_is_answered_at_once_each_time(
    sqlite_store: SqlStore,
) -> None:
    """Past the turn's budget too: its decisions come one after another, so none of them
    could share a commit with another; waiting a turn would only delay it."""
    decisions = sqlite_store.decisions
    assert isinstance(decisions, SqliteDecisions)
    before = decisions._commits
    for n in range(SOLO_PER_TURN + 3):
        step = decisions.decide(_plan(1200 + n))
        with pytest.raises(StopIteration) as finished:  # never suspended
            step.send(None)
        assert finished.value.value.decision.reason == "unknown"
    assert decisions._commits - before == SOLO_PER_TURN + 3


async def test_decisions_past_the_turns_budget_share_one_commit(sqlite_store: SqlStore) -> None:
    decisions = sqlite_store.decisions
    assert isinstance(decisions, SqliteDecisions)
    before = decisions._commits
    extra = 40
    queued = [decisions.decide(_plan(1000 + n)) for n in range(extra)]
    results = await asyncio.gather(*_turns_budget(sqlite_store), *queued)
    assert [r.decision.reason for r in results] == ["unknown"] * (SOLO_PER_TURN + extra)
    assert decisions._commits - before == SOLO_PER_TURN + 1


async def test_checkpoints_are_asked_for_by_items_committed_not_by_commits(
    sqlite_store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood's batch writes many pages in one commit: counted by commit, the WAL grew by
    hundreds of megabytes between two checkpoints."""
    decisions = sqlite_store.decisions
    assert isinstance(decisions, SqliteDecisions)
    monkeypatch.setattr(sqlite_decisions, "CHECKPOINT_EVERY", 8)
    asked: list[bool] = []
    monkeypatch.setattr(decisions._checkpoints, "request", lambda: asked.append(True))
    commits = decisions._commits
    queued = [decisions.decide(_plan(1300 + n)) for n in range(10)]
    await asyncio.gather(*_turns_budget(sqlite_store), *queued)
    assert decisions._commits - commits == SOLO_PER_TURN + 1  # fewer than 8 commits
    assert asked == [True]  # but 14 items: one checkpoint


async def test_a_users_counter_moves_once_per_decision_in_one_batch(
    sqlite_store: SqlStore,
) -> None:
    """Thirty decisions of one known user in one transaction: the counter row is written
    once, and holds all thirty; the limit (2 in 10 s) lets exactly two through."""
    await sqlite_store.users.create(User(0, "busy", (851,), frozenset({Role.USER})))
    results = await asyncio.gather(
        *_turns_budget(sqlite_store),
        *(sqlite_store.decisions.decide(_plan(851)) for _ in range(30)),
    )
    mine = [r.decision.reason for r in results[SOLO_PER_TURN:]]
    assert mine == ["allowed"] * 2 + ["rate"] * 28
    throttled = await sqlite_store.audit.query(AuditQuery(kind=Kind.ACCESS_THROTTLED))
    assert [e.detail["count"] for e in throttled] == [3]
    again = await sqlite_store.decisions.decide(_plan(851))  # read back from the file
    assert again.decision.reason == "rate"
    path = sqlite_store.db.file.path  # type: ignore[union-attr]
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT count FROM counters WHERE key = 'rate:tg:851'").fetchone()
    assert count == 31


async def test_a_plan_that_fails_costs_only_its_own_decision(sqlite_store: SqlStore) -> None:
    def resolve(user: User) -> User | None:
        if FAILING in user.telegram_ids:
            raise RuntimeError("a bug in one plan")
        return user

    await sqlite_store.users.create(User(0, "odd", (FAILING,), frozenset({Role.USER})))
    context = dataclasses.replace(DECISIONS, resolve_user=resolve)
    results = await asyncio.gather(
        *_turns_budget(sqlite_store),  # the three below then share a batch
        *(sqlite_store.decisions.decide(_plan(n, context)) for n in (801, FAILING, 802)),
        return_exceptions=True,
    )
    first, failed, last = results[SOLO_PER_TURN:]
    assert isinstance(failed, RuntimeError)
    assert isinstance(first, DecisionResult) and isinstance(last, DecisionResult)
    assert [r.decision.reason for r in (first, last)] == ["unknown", "unknown"]
    events = await sqlite_store.audit.query(AuditQuery(limit=100))
    mine = [e.actor or e.subject for e in events if e.actor in ("tg:801", "tg:802", "tg:999")]
    assert sorted(mine) == ["tg:801", "tg:802"]


async def test_a_statement_the_database_refuses_fails_its_work_not_the_store(
    sqlite_store: SqlStore, tmp_path: Path
) -> None:
    """A constraint or a trigger refusing one decision's row is not a lost database: that
    decision fails (closed), no outage is reported, and the next one is stored as usual."""
    with sqlite3.connect(tmp_path / "decisions.db") as conn:
        conn.execute(
            "CREATE TRIGGER refuse AFTER INSERT ON audit_events WHEN NEW.actor = 'tg:991' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    health = sqlite_store.health
    with pytest.raises(StorageError, match=r"^not stored: IntegrityError: refused$"):
        await sqlite_store.decisions.decide(_plan(991))
    assert health.available
    result = await sqlite_store.decisions.decide(_plan(992))
    assert result.decision.reason == "unknown" and health.available
    events = await sqlite_store.audit.query(AuditQuery(limit=10))
    assert [e.actor for e in events if e.actor in ("tg:991", "tg:992")] == ["tg:992"]


async def test_in_a_batch_a_refused_row_of_one_decision_fails_that_decision_alone(
    sqlite_store: SqlStore, tmp_path: Path
) -> None:
    """The block a stranger's third attempt writes is refused: in a batch, that decision fails
    (``not stored``, its writes undone), the others of the batch are stored."""
    with sqlite3.connect(tmp_path / "decisions.db") as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON blocks WHEN NEW.key = 'tg:994' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    for _ in range(MAX_ATTEMPTS - 1):
        await sqlite_store.decisions.decide(_plan(994))
    results = await asyncio.gather(
        *_turns_budget(sqlite_store),  # the three below then share a batch
        *(sqlite_store.decisions.decide(_plan(n)) for n in (995, 994, 996)),
        return_exceptions=True,
    )
    first, refused, last = results[SOLO_PER_TURN:]
    assert isinstance(refused, StorageError)
    assert str(refused) == "not stored: IntegrityError: refused"
    assert isinstance(first, DecisionResult) and isinstance(last, DecisionResult)
    assert sqlite_store.health.available
    assert await sqlite_store.blocks.active(("tg:994",), at(0)) is None


async def test_decisions_wait_on_the_loop_while_another_connection_writes(
    sqlite_store: SqlStore, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "decisions.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    waiting = asyncio.ensure_future(sqlite_store.decisions.decide(_plan(811)))
    for _ in range(20):  # the loop goes on meanwhile: nothing waits in it for the lock
        await asyncio.sleep(0)
    assert not waiting.done()
    other.execute("COMMIT")
    other.close()
    assert (await waiting).decision.reason == "unknown"


async def test_a_known_users_decision_is_answered_before_strangers_commit(
    sqlite_store: SqlStore,
) -> None:
    await sqlite_store.users.create(User(0, "friend", (821,), frozenset({Role.USER})))
    await sqlite_store.decisions.decide(_plan(821))  # the cache now knows the account
    order: list[int] = []

    async def decide(telegram_id: int) -> None:
        await sqlite_store.decisions.decide(_plan(telegram_id))
        order.append(telegram_id)

    await asyncio.gather(
        *_turns_budget(sqlite_store), decide(831), decide(832), decide(821), decide(833)
    )
    assert order[0] == 821
    assert sorted(order[1:]) == [831, 832, 833]


async def test_a_batch_reads_what_it_needs_up_front_and_decides_as_one_by_one(
    sqlite_store: SqlStore,
) -> None:
    """A batch's accounts, blocks and counters are read in one statement each: a blocked ID,
    an account, a stranger on their second attempt and a new one are still told apart."""
    await sqlite_store.users.create(User(0, "friend", (861,), frozenset({Role.USER})))
    await sqlite_store.decisions.decide(_plan(862))  # the stranger's first attempt
    block = Block("tg:863", None, "admin", 0, at(0))
    await sqlite_store.blocks.put(block, AuditEvent("block.created", at(0), "", "tg:863"))
    mine = (sqlite_store.decisions.decide(_plan(n)) for n in (861, 862, 863, 864))
    results = await asyncio.gather(*_turns_budget(sqlite_store), *mine)
    assert [r.decision.reason for r in results[SOLO_PER_TURN:]] == [
        "allowed", "unknown", "blocked", "unknown"
    ]  # fmt: skip
    attempts = {
        e.actor: e.detail["attempt"]
        for r in results[SOLO_PER_TURN:]
        for e in r.writes.events
        if e.kind == Kind.ACCESS_UNKNOWN
    }
    assert attempts == {"tg:862": 2, "tg:864": 1}


async def test_audit_rows_written_at_the_commit_carry_the_ids_their_events_were_given(
    sqlite_store: SqlStore,
) -> None:
    def batch(first: int) -> list[Any]:
        mine = [sqlite_store.decisions.decide(_plan(first + n)) for n in range(5)]
        return [*_turns_budget(sqlite_store), *mine]

    first = await asyncio.gather(*batch(870))
    # Appended through another connection (SQLAlchemy's) between two batches:
    await sqlite_store.audit.append(AuditEvent("user.created", at(0), "", "user:x"))
    second = await asyncio.gather(*batch(880))
    given = {e.id: (e.kind, e.actor) for r in [*first, *second] for e in r.writes.events}
    stored = await sqlite_store.audit.query(AuditQuery(limit=500))
    assert {e.id: (e.kind, e.actor) for e in stored if e.id in given} == given
    assert len(stored) == len(given) + 1  # nothing lost, nothing twice


async def test_a_plan_failing_while_the_batch_is_sorted_costs_only_its_own_decision(
    sqlite_store: SqlStore, tmp_path: Path
) -> None:
    """Known users go first, which resolves cached accounts before the batch's savepoint: an
    account whose resolution raises there must still fail alone and leave no lock behind."""

    calls: list[int] = []

    def resolve(user: User) -> User | None:
        if FAILING in user.telegram_ids:
            calls.append(FAILING)
            if len(calls) > 1:  # fine the first time: the account is cached meanwhile
                raise RuntimeError("a bug in one plan")
        return user

    await sqlite_store.users.create(User(0, "odd", (FAILING,), frozenset({Role.USER})))
    context = dataclasses.replace(DECISIONS, resolve_user=resolve)
    assert (await sqlite_store.decisions.decide(_plan(FAILING, context))).decision.allowed
    mine = (sqlite_store.decisions.decide(_plan(n, context)) for n in (841, FAILING, 842))
    batch = asyncio.gather(*_turns_budget(sqlite_store), *mine, return_exceptions=True)
    results = await asyncio.wait_for(batch, 10)  # every caller answered
    first, failed, last = results[SOLO_PER_TURN:]
    assert isinstance(failed, RuntimeError)
    assert isinstance(first, DecisionResult) and isinstance(last, DecisionResult)
    other = sqlite3.connect(tmp_path / "decisions.db", isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # the lock is free again
    other.execute("ROLLBACK")
    other.close()


async def test_a_value_that_cannot_be_read_ahead_fails_only_its_own_decision(
    sqlite_store: SqlStore,
) -> None:
    odd = DecisionPlan(Actor(telegram_id=2**64), "host.view", at(0), DECISIONS)
    mine = [sqlite_store.decisions.decide(_plan(n)) for n in (891, 892)]
    results = await asyncio.gather(
        *_turns_budget(sqlite_store),
        mine[0],
        sqlite_store.decisions.decide(odd),
        mine[1],
        return_exceptions=True,
    )
    first, failed, last = results[SOLO_PER_TURN:]
    assert isinstance(failed, OverflowError)
    assert isinstance(first, DecisionResult) and isinstance(last, DecisionResult)


async def test_a_burst_larger_than_a_batch_is_cut_into_batches(sqlite_store: SqlStore) -> None:
    decisions = sqlite_store.decisions
    assert isinstance(decisions, SqliteDecisions)
    before = decisions._commits
    burst = [decisions.decide(_plan(2000 + n)) for n in range(2 * MAX_BATCH + 1)]
    results = await asyncio.gather(*_turns_budget(sqlite_store), *burst)
    assert all(r.decision.reason == "unknown" for r in results)
    assert decisions._commits - before == SOLO_PER_TURN + 3


async def test_a_burst_waiting_for_another_writers_lock_is_decided_once_each(
    sqlite_store: SqlStore, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "decisions.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    burst = [
        asyncio.ensure_future(sqlite_store.decisions.decide(_plan(3000 + n)))
        for n in range(2 * MAX_BATCH + 1)
    ]
    for _ in range(20):
        await asyncio.sleep(0)
    assert not any(future.done() for future in burst)
    other.execute("COMMIT")
    other.close()
    results = await asyncio.wait_for(asyncio.gather(*burst), 30)
    assert all(r.decision.reason == "unknown" for r in results)
    events = await sqlite_store.audit.query(AuditQuery(kind=Kind.ACCESS_UNKNOWN, limit=2000))
    assert sorted(e.actor for e in events) == sorted(f"tg:{3000 + n}" for n in range(len(burst)))


async def test_a_flood_of_new_ids_does_not_grow_the_cache_without_bound(
    sqlite_store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_cache, "MAX_ENTRIES", 100)
    decisions = sqlite_store.decisions
    assert isinstance(decisions, SqliteDecisions)
    for wave in range(10):
        mine = [decisions.decide(_plan(4000 + 64 * wave + n)) for n in range(64)]
        await asyncio.gather(*_turns_budget(sqlite_store), *mine)
    cache = decisions._cache
    assert max(len(cache.users), len(cache.blocks), len(cache.counters)) <= 100 + 2 * 64


def test_decisions_run_alone_again_on_a_new_event_loop(tmp_path: Path) -> None:
    """The turn's bookkeeping belongs to one loop: items of a loop that ended mid-turn (its
    reset never ran) do not keep the next loop's items queued."""
    path = tmp_path / "loops.db"

    async def prepare() -> None:
        store = SqlStore(str(path))
        await store.start()
        await store.close()

    asyncio.run(prepare())
    file = SqliteFile(path)
    file.must_exist = True
    decisions = SqliteDecisions(file, StoreHealth())

    async def burst(first: int) -> None:
        for n in range(SOLO_PER_TURN + 2):  # one task, no yield: past the budget
            step = decisions.decide(_plan(first + n))
            with pytest.raises(StopIteration):  # ran alone: never suspended
                step.send(None)
        asyncio.get_running_loop().stop()  # the loop ends with this turn: no reset runs

    try:
        for first in (1300, 1400, 1500):
            loop = asyncio.new_event_loop()
            loop.run_until_complete(burst(first))
            loop.close()
    finally:
        decisions.close()
    assert decisions._commits == 3 * (SOLO_PER_TURN + 2)


async def test_a_task_deciding_in_a_loop_lets_the_others_run_every_so_often(
    sqlite_store: SqlStore,
) -> None:
    """It goes on alone for a while, then waits a turn: another task's decision and a timer
    are not held until its loop ends."""
    decisions = sqlite_store.decisions
    order: list[str] = []

    async def hammer() -> None:
        for n in range(3 * SOLO_RUN_PER_TURN):
            await decisions.decide(_plan(2000 + n))
            order.append("hammer")

    async def other() -> None:
        await decisions.decide(_plan(1999))
        order.append("other")

    await asyncio.gather(hammer(), other())
    assert order.index("other") <= SOLO_RUN_PER_TURN + 1  # with its turn's batch
    assert order.count("hammer") == 3 * SOLO_RUN_PER_TURN
