"""The outbox on an SQLite file, its writes in the decision batches (sql/sqlite_outbox.py).

A claim or settlement never holds SQLite's write lock while the event loop runs anything else
(through SQLAlchemy it held it across a hop to the driver's thread per statement, and every
decision waited); it waits on the loop while another connection writes; and two stores on one
file (two processes) still claim a delivery once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from hostwarden.storage.base import OutboxStore, Outcome
from hostwarden.storage.sql import SqlStore
from hostwarden.storage.sql.sqlite_outbox import SqliteOutbox
from tests.contract.test_store_contract import at

CHAT = "telegram:1"


@pytest.fixture
async def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.db"


@pytest.fixture
async def sqlite_store(path: Path) -> AsyncIterator[SqlStore]:
    store = SqlStore(str(path))
    await store.start()
    yield store
    await store.close()


async def lock_taken_between_turns(path: Path, work: Awaitable[Any]) -> list[int]:
    """Run ``work`` while another connection tries SQLite's write lock at every turn of the
    loop, without waiting; the turns at which it found the lock taken."""
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    task = asyncio.ensure_future(work)
    taken: list[int] = []
    turn = 0
    try:
        while not task.done():
            try:
                probe.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
                taken.append(turn)
            else:
                probe.execute("ROLLBACK")
            turn += 1
            await asyncio.sleep(0)
        await task
    finally:
        probe.close()
    return taken


async def deliver_once(outbox: OutboxStore) -> None:
    """What a dispatcher's round does with one message: read, claim, settle."""
    await outbox.put("alert", at(0))
    (message,) = await outbox.due(at(0), 10)
    assert await outbox.claim(message.id, CHAT, at(0), at(60))
    assert await outbox.settle(message.id, CHAT, Outcome.DELIVERED, at(1), [CHAT])
    await outbox.fold("minute|blocked", "blocked", at(1), at(2))
    assert await outbox.due(at(0), 10) == []


async def test_the_outbox_never_holds_the_write_lock_across_loop_turns(
    sqlite_store: SqlStore, path: Path
) -> None:
    assert isinstance(sqlite_store.outbox, SqliteOutbox)
    assert await lock_taken_between_turns(path, deliver_once(sqlite_store.outbox)) == []
    assert [m.text for m in await sqlite_store.outbox.due(at(2), 10)] == ["blocked"]


async def test_an_outbox_write_waits_on_the_loop_while_another_connection_writes(
    sqlite_store: SqlStore, path: Path
) -> None:
    await sqlite_store.outbox.put("alert", at(0))
    (message,) = await sqlite_store.outbox.due(at(0), 10)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    claim = asyncio.ensure_future(sqlite_store.outbox.claim(message.id, CHAT, at(0), at(60)))
    for _ in range(20):  # the loop goes on meanwhile: nothing waits in it for the lock
        await asyncio.sleep(0)
    assert not claim.done()
    other.execute("COMMIT")
    other.close()
    assert await claim
    (again,) = await sqlite_store.outbox.due(at(0), 10)
    assert [(d.recipient, d.attempts) for d in again.deliveries] == [(CHAT, 1)]


async def test_two_stores_on_one_file_claim_a_delivery_once_and_keep_a_digests_remainder(
    path: Path,
) -> None:
    a, b = SqlStore(str(path)), SqlStore(str(path))
    await a.start()
    await b.start()
    try:
        await a.outbox.fold("minute|blocked", "blocked", at(0), at(0))
        (digest,) = await b.outbox.due(at(0), 10)
        claims = await asyncio.gather(
            a.outbox.claim(digest.id, CHAT, at(0), at(60)),
            b.outbox.claim(digest.id, CHAT, at(0), at(60)),
        )
        assert sorted(claims) == [False, True]
        winner = a if claims[0] else b
        await b.outbox.fold("minute|blocked", "blocked", at(1), at(0))  # while it is sent
        sent = digest.count
        assert await winner.outbox.settle(digest.id, CHAT, Outcome.DELIVERED, at(2), [CHAT], sent)
        (left,) = await a.outbox.due(at(2), 10)
        assert (left.id, left.count, left.deliveries, left.next_attempt_at) == (
            digest.id,
            1,
            (),
            at(2),
        )
    finally:
        await a.close()
        await b.close()
