"""Pending entries, conversations and outbox claims behave alike on memory, SQLite and PostgreSQL,
and a second store object on the same database (another hub replica) sees the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hostwarden.storage.pending import Conversation, Pending
from hostwarden.storage.sql import SqlStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def entry(key: str = "n1", owner: str = "42", expires: float = 120, kind: str = "confirm") -> Any:
    return Pending(kind, key, owner, '{"verb": "restart"}', at(expires))


@pytest.fixture
async def twin(store: Any) -> AsyncIterator[Any]:
    """A second store object on ``store``'s database (the same object for memory)."""
    if not isinstance(store, SqlStore):
        yield store
        return
    other = SqlStore(store.db.url)
    await other.start()
    yield other
    await other.close()


class TestPending:
    async def test_create_peek_and_take_once_by_its_owner(self, store: Any, twin: Any) -> None:
        assert await store.pending.create(entry(), at(0))
        assert not await twin.pending.create(entry(owner="7"), at(1))  # a live one is kept
        assert await twin.pending.peek("confirm", "n1", at(1)) == entry()
        assert await store.pending.peek("other", "n1", at(1)) is None  # kinds are apart
        assert await twin.pending.take("confirm", "n1", "7", at(1)) is None  # not the owner
        assert await twin.pending.take("confirm", "n1", "42", at(2)) == entry()
        assert await store.pending.take("confirm", "n1", "42", at(2)) is None  # used
        assert await store.pending.peek("confirm", "n1", at(2)) is None

    async def test_expiry_is_by_the_callers_clock(self, store: Any, twin: Any) -> None:
        await store.pending.create(entry(expires=60), at(0))
        assert await twin.pending.peek("confirm", "n1", at(59)) is not None
        assert await twin.pending.peek("confirm", "n1", at(60)) is None
        assert await twin.pending.take("confirm", "n1", "42", at(60)) is None
        # An expired entry is replaced by a new one with its key; purge keeps what is live.
        assert await twin.pending.create(entry(owner="8", expires=200), at(61))
        await store.pending.create(entry("n2", expires=100), at(61))
        assert await store.pending.purge(at(150)) == 1
        assert (await twin.pending.peek("confirm", "n1", at(150))) == entry(owner="8", expires=200)

    async def test_renew_is_for_the_live_entrys_owner_only(self, store: Any, twin: Any) -> None:
        lease = Pending("lease", "agents", "hub-a", '{"n": 1}', at(45))
        assert await store.pending.create(lease, at(0))
        moved = Pending("lease", "agents", "hub-a", '{"n": 2}', at(90))
        assert not await twin.pending.renew(
            Pending("lease", "agents", "hub-b", "{}", at(90)), at(1)
        )
        assert await twin.pending.renew(moved, at(44))
        assert await store.pending.peek("lease", "agents", at(60)) == moved
        assert not await store.pending.renew(moved, at(90))  # expired: nothing to renew
        assert not await store.pending.renew(Pending("lease", "none", "hub-a", "{}", at(99)), at(1))

    async def test_racing_takes_give_the_entry_to_one(self, store: Any, twin: Any) -> None:
        for n in range(5):
            await store.pending.create(entry(f"k{n}"), at(0))
            takes = [s.pending.take("confirm", f"k{n}", "42", at(1)) for s in (store, twin) * 8]
            got = [found for found in await asyncio.gather(*takes) if found is not None]
            assert got == [entry(f"k{n}")]


class TestConversations:
    async def test_state_and_data_apart_and_shared(self, store: Any, twin: Any) -> None:
        c = store.conversations
        assert await c.get("1:2::2::default", at(0)) is None
        await c.set_state("k", "TwoFactor:awaiting_code", at(0), at(100))
        await c.set_data("k", '{"parked": "n"}', at(1), at(100))
        expected = Conversation("TwoFactor:awaiting_code", '{"parked": "n"}')
        assert await twin.conversations.get("k", at(50)) == expected
        await twin.conversations.set_state("k", None, at(2), at(100))  # the data stays
        assert await c.get("k", at(3)) == Conversation(None, '{"parked": "n"}')
        await c.set_data("k", "{}", at(4), at(100))  # nothing left: the record goes
        assert await twin.conversations.get("k", at(5)) is None
        assert await c.purge(at(10**6)) == 0

    async def test_a_record_runs_out_and_starts_again_empty(self, store: Any, twin: Any) -> None:
        c = store.conversations
        await c.set_state("k", "s1", at(0), at(60))
        await c.set_data("k", '{"a": 1}', at(0), at(60))
        assert await twin.conversations.get("k", at(60)) is None
        await twin.conversations.set_state("k", "s2", at(61), at(120))  # old data not revived
        assert await c.get("k", at(61)) == Conversation("s2", "{}")
        await c.set_state("j", "s", at(61), at(100))
        assert await twin.conversations.purge(at(110)) == 1
        assert await c.get("k", at(110)) == Conversation("s2", "{}")


class TestOutboxClaims:
    async def test_racing_senders_claim_a_delivery_once(self, store: Any, twin: Any) -> None:
        for n in range(5):
            await store.outbox.put(f"alert {n}", at(0))
        for message in await twin.outbox.due(at(0), 10):
            claims = [
                s.outbox.claim(message.id, "telegram:1", at(0), at(30)) for s in (store, twin) * 8
            ]
            assert sum(await asyncio.gather(*claims)) == 1
            # A sender killed after its claim: the claim runs out, then one sender takes it.
            again = [
                s.outbox.claim(message.id, "telegram:1", at(30), at(90)) for s in (twin, store) * 4
            ]
            assert sum(await asyncio.gather(*again)) == 1


@pytest.fixture
async def pg_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    from tests.conftest import make_store

    store = await make_store("postgres", tmp_path, request)
    await store.start()
    yield store
    await store.close()


async def test_a_claim_skips_a_message_another_replica_holds(pg_store: SqlStore) -> None:
    """``FOR UPDATE SKIP LOCKED``: a claim does not queue behind another sender's lock."""
    await pg_store.outbox.put("alert", at(0))
    [message] = await pg_store.outbox.due(at(0), 10)
    lock = text("SELECT id FROM outbox WHERE id = :id FOR UPDATE")
    other = SqlStore(pg_store.db.url)
    try:
        async with other.db.engine.connect() as held:
            transaction = await held.begin()
            await held.execute(lock, {"id": message.id})
            claim = pg_store.outbox.claim(message.id, "telegram:1", at(0), at(30))
            assert not await asyncio.wait_for(claim, 10)  # a plain FOR UPDATE would wait here
            await transaction.rollback()
    finally:
        await other.close()
    assert await pg_store.outbox.claim(message.id, "telegram:1", at(0), at(30))
    [claimed] = await pg_store.outbox.due(at(30), 10)
    assert [d.attempts for d in claimed.deliveries] == [1]  # the skipped claim counted nothing
