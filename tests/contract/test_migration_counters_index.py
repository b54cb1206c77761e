"""Migration 0005 drops the counters' last_seen index in place: rows stay, downgrade restores it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection

from hostwarden.storage.sql import tables as t
from hostwarden.storage.sql.db import Database
from hostwarden.storage.sql.migrate import alembic_config
from tests.conftest import database_url_for

INDEX = "ix_counters_last_seen"


def _indexes(conn: Connection) -> set[str]:
    return {str(index["name"]) for index in inspect(conn).get_indexes("counters")}


def _to(revision: str) -> object:
    def run(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), revision)

    return run


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_index_goes_and_comes_back_and_counters_stay(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    db = Database(await database_url_for(backend, tmp_path, request))
    now = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    row = {"key": "tg:42", "count": 2, "window_start": now, "level": 0, "last_seen": now}
    try:
        async with db.write() as conn:
            await conn.run_sync(_to("0004"))
            assert INDEX in await conn.run_sync(_indexes)
            await conn.execute(insert(t.counters).values(**row, last_alert=None))
        async with db.write() as conn:
            await conn.run_sync(_to("head"))
            assert INDEX not in await conn.run_sync(_indexes)
            kept = (await conn.execute(select(t.counters.c.key, t.counters.c.count))).all()
            assert [tuple(r) for r in kept] == [("tg:42", 2)]
        async with db.write() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0004"))
            assert INDEX in await conn.run_sync(_indexes)
    finally:
        await db.dispose()
