"""The SQLite decision store: a failing plan, another writer's lock, known users first."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hostwarden.core.decision import DecisionPlan, DecisionResult
from hostwarden.core.identity import Actor, Role, User
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.sql import SqlStore
from tests.contract.test_store_contract import DECISIONS, at

FAILING = 999


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = SqlStore(str(tmp_path / "decisions.db"))
    await store.start()
    yield store
    await store.close()


def _plan(telegram_id: int, context: Any = DECISIONS) -> DecisionPlan:
    return DecisionPlan(Actor(telegram_id=telegram_id), "host.view", at(0), context)


async def test_a_plan_that_fails_costs_only_its_own_decision(sqlite_store: SqlStore) -> None:
    def resolve(user: User) -> User | None:
        if FAILING in user.telegram_ids:
            raise RuntimeError("a bug in one plan")
        return user

    await sqlite_store.users.create(User(0, "odd", (FAILING,), frozenset({Role.USER})))
    context = dataclasses.replace(DECISIONS, resolve_user=resolve)
    results = await asyncio.gather(
        *(sqlite_store.decisions.decide(_plan(n, context)) for n in (801, FAILING, 802)),
        return_exceptions=True,
    )
    first, failed, last = results
    assert isinstance(failed, RuntimeError)
    assert isinstance(first, DecisionResult) and isinstance(last, DecisionResult)
    assert [r.decision.reason for r in (first, last)] == ["unknown", "unknown"]
    events = await sqlite_store.audit.query(AuditQuery(limit=10))
    assert sorted(e.actor or e.subject for e in events) == ["tg:801"] * 2 + ["tg:802"] * 2


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

    await asyncio.gather(decide(831), decide(832), decide(821), decide(833))
    assert order[0] == 821
    assert sorted(order[1:]) == [831, 832, 833]
