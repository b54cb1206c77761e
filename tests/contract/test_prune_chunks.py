"""The SQL counters' prune walks the keys a chunk at a time: each chunk its own transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostwarden.storage.base import CounterRule
from hostwarden.storage.sql import SqlStore, security
from tests.conftest import database_url_for
from tests.contract.test_store_contract import at

RULE = CounterRule(limit=None, window_seconds=600)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_prune_drops_exactly_the_stale_counters_across_chunks(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security, "PRUNE_CHUNK", 3)
    monkeypatch.setattr(security, "PRUNE_PAUSE_SECONDS", 0)
    store = SqlStore(await database_url_for(backend, tmp_path, request))
    await store.start()
    try:
        # Keys an attacker can shape (names, addresses), so the walk must follow the
        # database's own ordering of text, whatever its collation.
        odd = ["user:ärger", "user:Ärger", "user:a b", "user:Z", "ip:::1", "enrol:10.0.0.1",
               "user:" + "x" * 150, "user:日本", "user:%_", "tg:-5"]  # fmt: skip
        keys = [*odd, *(f"tg:{100 + n}" for n in range(10))]
        for n, key in enumerate(keys):  # quiet since 0 s (even n) or active at 700 s (odd n)
            await store.counters.hit(key, at(0 if n % 2 == 0 else 700), RULE)
        transactions = []
        write = store.db.write

        def counted() -> object:
            transactions.append(1)
            return write()

        monkeypatch.setattr(store.db, "write", counted)
        assert await store.counters.prune(at(700), 600, 86400) == 10
        assert len(transactions) == 7  # 20 keys, 3 a chunk
        assert await store.counters.size() == 10
        assert await store.counters.prune(at(700), 600, 86400) == 0
    finally:
        await store.close()
