"""A block and its ``block.created`` event survive SIGKILL together, or not at all (SQLite).

A child process floods the guard with strangers and reports each block it made and each audit
event the store acknowledged; it is killed with SIGKILL at seeded random points, five times.
After each kill, everything it reported is in the file, and no block is without its event.
Children are forked from a server that has imported hostwarden once, so each starts at once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from hostwarden.core.audit import Kind
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.sql import SqlStore
from tests.contract import flood_worker

WHEN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
KILLS = 5
SEED = 80506
TIMEOUT = 30.0


def _flood_then_kill(path: Path, first_id: int, messages: int) -> list[str]:
    """Start a flood child, let it report ``messages`` facts, SIGKILL it; all it reported."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.contract.flood_worker"])
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(
        target=flood_worker.run, args=(str(path), WHEN.isoformat(), first_id, writer)
    )
    child.start()
    writer.close()
    try:
        assert reader.poll(TIMEOUT) and reader.recv() == "READY"
        received: list[str] = []
        for _ in range(messages):
            assert reader.poll(TIMEOUT), "the flood stalled"
            received.append(reader.recv())
        child.kill()
        child.join(TIMEOUT)
        while reader.poll(0):  # what it reported before the kill landed
            try:
                received.append(reader.recv())
            except EOFError:
                break
        return received
    finally:
        child.kill()
        reader.close()


async def _prepare(path: Path) -> None:
    store = SqlStore(str(path))
    await store.start()
    await store.close()


async def _check(path: Path, blocks: set[str], acknowledged: set[int]) -> int:
    store = SqlStore(str(path))
    try:
        stored_blocks = {b.key for b in await store.blocks.list(WHEN)}
        created = await store.audit.query(AuditQuery(kind=Kind.BLOCK_CREATED, limit=10**7))
        event_ids = {e.id for e in await store.audit.query(AuditQuery(limit=10**7))}
    finally:
        await store.close()
    missing = blocks - stored_blocks
    assert not missing, f"reported blocks lost: {sorted(missing)[:5]}"
    lost = acknowledged - event_ids
    assert not lost, f"acknowledged events lost: {sorted(lost)[:5]}"
    subjects = Counter(e.subject for e in created)
    without_event = stored_blocks - set(subjects)
    assert not without_event, f"blocks without their event: {sorted(without_event)[:5]}"
    assert set(subjects) == stored_blocks, "an event without its block"
    assert max(subjects.values()) == 1, "a block announced twice"
    return len(stored_blocks)


def test_blocks_and_their_events_survive_sigkill_together(tmp_path: Path) -> None:
    path = tmp_path / "flood.db"
    asyncio.run(_prepare(path))
    rng = random.Random(SEED)
    blocks: set[str] = set()
    acknowledged: set[int] = set()
    for run in range(KILLS):
        first_id = (run + 1) * 1_000_000
        for message in _flood_then_kill(path, first_id, rng.randint(20, 200)):
            word, _, value = message.partition(" ")
            if word == "BLOCK":
                blocks.add(value)
            elif word == "EVENT":
                acknowledged.add(int(value))
        stored = asyncio.run(_check(path, blocks, acknowledged))
        assert stored >= len(blocks)
    assert blocks and acknowledged
