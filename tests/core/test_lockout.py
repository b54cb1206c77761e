"""Lockout: manual blocks, key parsing and bounded state under a flood."""

from __future__ import annotations

import json
import logging

import pytest

from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.lockout import parse_key
from hostwarden.core.service import AccessCore
from hostwarden.errors import InvalidInput, NotFound
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.memory import MemoryStore
from tests.conftest import fast_settings


def test_parse_key() -> None:
    assert parse_key(" 12345 ") == "tg:12345"
    assert parse_key("user:Alice") == "user:alice"
    assert parse_key("ip:10.0.0.1") == "ip:10.0.0.1"
    with pytest.raises(InvalidInput):
        parse_key("nonsense")


async def test_manual_block_and_unblock(core: AccessCore) -> None:
    await core.lockout.block("555", actor="user:admin")
    assert (await core.guard.decide(Actor(telegram_id=555), "getmyid")).reason == "blocked"
    assert [b.key for b in await core.lockout.list_blocks()] == ["tg:555"]
    await core.lockout.unblock("tg:555", actor="user:admin")
    assert await core.lockout.list_blocks() == []
    with pytest.raises(NotFound):
        await core.lockout.unblock("tg:555", actor="user:admin")


async def test_counters_of_quiet_actors_are_pruned(clock: ManualClock) -> None:
    core = AccessCore(MemoryStore(), fast_settings(), clock)
    for n in range(300):
        await core.guard.decide(Actor(telegram_id=n + 1_000_000), "host.view")
    assert await core.store.counters.size() >= 300
    clock.advance(3601)
    assert await core.lockout.prune() >= 300
    assert await core.store.counters.size() <= 1


async def test_memory_counters_are_capped() -> None:
    store = MemoryStore(counter_capacity=100)
    core = AccessCore(store, fast_settings(), ManualClock())
    for n in range(1000):
        await core.guard.decide(Actor(telegram_id=n + 5_000_000), "host.view")
    assert await store.counters.size() == 100


async def test_housekeeping_never_lifts_a_block_early(clock: ManualClock) -> None:
    # pyTMBot's session cleanup erased TOTP blocks early; here blocks are not sessions.
    core = AccessCore(MemoryStore(), fast_settings(), clock)
    for _ in range(3):
        await core.guard.decide(Actor(telegram_id=4444), "host.view")
    await core.sessions.create(1, None, None)
    clock.advance(3500)
    await core.maintain()
    assert await core.sessions.list() == []  # idle sessions went
    assert await core.lockout.blocked(("tg:4444",)) is not None  # the block stayed
    clock.advance(101)
    assert await core.lockout.blocked(("tg:4444",)) is None  # and ends on time


def _logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "hostwarden.audit"]
    return [(line["event"], line["id"]) for line in lines if line["event"].startswith("block.")]


async def test_block_events_are_stored_with_the_block_and_logged_once(
    core: AccessCore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hostwarden.audit")
    for _ in range(3):  # MAX_ATTEMPTS: the third attempt blocks
        await core.guard.decide(Actor(telegram_id=4242), "host.view")
    await core.lockout.block("555", actor="user:admin", reason="spam")
    await core.lockout.unblock("tg:555", actor="user:admin")
    stored = await core.audit.query(AuditQuery(limit=100))
    blocks = [e for e in reversed(stored) if e.kind.startswith("block.")]
    assert [(e.kind, e.actor, e.subject) for e in blocks] == [
        ("block.created", "", "tg:4242"),
        ("block.created", "user:admin", "tg:555"),
        ("block.lifted", "user:admin", "tg:555"),
    ]
    assert blocks[0].detail["level"] == 1 and blocks[1].detail == {"reason": "spam"}
    assert _logged(caplog) == [(e.kind, e.id) for e in blocks]
