"""Two processes on one database: what one of them changes, the other's very next decision sees.

Each core here has its own store, connections and decision store over the same SQLite file or
PostgreSQL database, as two processes would; what a decision store caches (accounts and blocks,
on SQLite) must not outlive the other's changes. tests/contract/test_cached_reads.py does the
same with two real processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hostwarden.core.clock import ManualClock
from hostwarden.core.guard import Verdict
from hostwarden.core.identity import Actor, Role, User
from hostwarden.core.service import AccessCore
from hostwarden.storage.sql import SqlStore
from tests.conftest import database_url_for, fast_settings

STRANGER = 555_000_111
FRIEND = 555_000_222


@pytest.fixture(params=["sqlite", "postgres"])
async def two_cores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[AccessCore, AccessCore]]:
    url = await database_url_for(request.param, tmp_path, request)
    clock = ManualClock()
    settings = fast_settings()
    first = AccessCore(SqlStore(url), settings, clock)
    await first.start()
    second = AccessCore(SqlStore(url), settings, clock)
    await second.start()
    yield first, second
    await second.close()
    await first.close()


async def test_a_block_or_unblock_by_one_process_holds_at_the_others_next_decision(
    two_cores: tuple[AccessCore, AccessCore],
) -> None:
    first, second = two_cores
    friend = Actor(telegram_id=FRIEND)
    await first.store.users.create(User(0, "friend", (FRIEND,), frozenset({Role.USER})))
    assert (await second.guard.decide(friend, "host.view")).allowed
    await first.lockout.block(f"tg:{FRIEND}", "admin")
    assert (await second.guard.decide(friend, "host.view")).reason == "blocked"
    await first.lockout.unblock(f"tg:{FRIEND}", "admin")
    assert (await second.guard.decide(friend, "host.view")).allowed


async def test_counts_and_accounts_are_shared_between_processes(
    two_cores: tuple[AccessCore, AccessCore],
) -> None:
    first, second = two_cores
    stranger = Actor(telegram_id=STRANGER)
    assert (await first.guard.decide(stranger, "host.view")).reason == "unknown"
    assert (await second.guard.decide(stranger, "host.view")).reason == "unknown"
    # The third attempt, whichever process sees it, blocks; both then drop the stranger.
    assert (await first.guard.decide(stranger, "host.view")).reason == "blocked now"
    assert (await second.guard.decide(stranger, "host.view")).verdict is Verdict.DROP
    # An account made by one process lets its owner in at the other's next decision.
    await first.store.users.create(User(0, "late", (STRANGER + 1,), frozenset({Role.USER})))
    assert (await second.guard.decide(Actor(telegram_id=STRANGER + 1), "host.view")).allowed
