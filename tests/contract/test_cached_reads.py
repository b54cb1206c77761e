"""Cached reads (accounts, blocks, counters) never outlive a change made by another process.

Process B (a child with a core of its own) decides for an actor first, so whatever it caches is
filled; then this process (A) changes that actor's account or block through its own store, and
B's very next decision must reflect it, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor, Role, User
from hostwarden.core.service import AccessCore
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.sql import SqlStore
from tests.conftest import database_url_for
from tests.contract import decide_worker

FRIEND = 777_000_222
TIMEOUT = 60.0


class ProcessB:
    """The other process: asks it for one decision at a time."""

    def __init__(self, url: str, when: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._child = context.Process(target=decide_worker.serve, args=(url, when, child_end))
        self._child.start()
        child_end.close()

    async def _receive(self) -> str:
        assert await asyncio.to_thread(self._pipe.poll, TIMEOUT), "process B did not answer"
        answer: str = self._pipe.recv()
        return answer

    async def ready(self) -> None:
        assert await self._receive() == "READY"

    async def decide(self, telegram_id: int) -> str:
        self._pipe.send(telegram_id)
        return await self._receive()

    def stop(self) -> None:
        self._pipe.send(None)
        self._child.join(TIMEOUT)
        if self._child.is_alive():
            self._child.kill()
        self._pipe.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def a_and_b(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[AccessCore, ProcessB]]:
    url = await database_url_for(request.param, tmp_path, request)
    clock = ManualClock()
    a = AccessCore(SqlStore(url), decide_worker.settings(), clock)
    await a.start()
    b = ProcessB(url, clock.now().isoformat())
    try:
        await b.ready()
        yield a, b
    finally:
        b.stop()
        await a.close()


async def test_a_block_and_an_unblock_by_a_reach_bs_next_decision(
    a_and_b: tuple[AccessCore, ProcessB],
) -> None:
    a, b = a_and_b
    await a.store.users.create(User(0, "friend", (FRIEND,), frozenset({Role.USER})))
    assert await b.decide(FRIEND) == "allow:allowed"
    assert await b.decide(FRIEND) == "allow:allowed"  # now from what B remembers, if it does
    await a.lockout.block(f"tg:{FRIEND}", "admin")
    assert await b.decide(FRIEND) == "drop:blocked"
    assert await b.decide(FRIEND) == "drop:blocked"
    await a.lockout.unblock(f"tg:{FRIEND}", "admin")
    assert await b.decide(FRIEND) == "allow:allowed"


async def test_an_account_added_or_removed_by_a_reaches_bs_next_decision(
    a_and_b: tuple[AccessCore, ProcessB],
) -> None:
    a, b = a_and_b
    assert await b.decide(FRIEND) == "drop:unknown"
    assert await b.decide(FRIEND) == "drop:unknown"
    user = await a.store.users.create(User(0, "friend", (FRIEND,), frozenset({Role.USER})))
    assert await b.decide(FRIEND) == "allow:allowed"
    await a.store.users.update(User(user.id, "friend", (FRIEND + 1,), frozenset({Role.USER})))
    assert await b.decide(FRIEND) == "drop:unknown"  # the ID left the account
    assert await b.decide(FRIEND + 1) == "allow:allowed"
    assert await a.store.users.delete(user.id)
    assert await b.decide(FRIEND + 1) == "drop:unknown"


async def test_a_block_on_a_config_allowed_id_reaches_bs_next_decision(
    a_and_b: tuple[AccessCore, ProcessB],
) -> None:
    a, b = a_and_b
    allowed = decide_worker.ALLOWED_BY_CONFIG
    assert await b.decide(allowed) == "allow:allowed"
    assert await b.decide(allowed) == "allow:allowed"
    await a.lockout.block(str(allowed), "admin")
    assert await b.decide(allowed) == "drop:blocked"
    await a.lockout.unblock(str(allowed), "admin")
    assert await b.decide(allowed) == "allow:allowed"


async def test_a_stranger_counted_by_a_is_counted_on_by_bs_next_decision(
    a_and_b: tuple[AccessCore, ProcessB],
) -> None:
    """B remembers the counter it moved; A's attempt must still count in B's next decision."""
    a, b = a_and_b
    stranger = FRIEND + 50
    assert await b.decide(stranger) == "drop:unknown"  # attempt 1, by B
    assert (await a.guard.decide(Actor(telegram_id=stranger), "host.view")).reason == "unknown"
    assert await b.decide(stranger) == "drop:unknown"  # attempt 3, not 2 again
    events = await a.store.audit.query(AuditQuery(kind=Kind.ACCESS_UNKNOWN, limit=10))
    assert sorted(e.detail["attempt"] for e in events) == [1, 2, 3]
