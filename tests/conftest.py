"""Shared fixtures: a clock, stores of every backend, a wired core."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from hostwarden.core.clock import ManualClock
from hostwarden.core.secretbox import generate_key
from hostwarden.core.service import AccessCore, CoreSettings
from hostwarden.core.settings import TotpSettings
from hostwarden.storage.memory import MemoryStore
from hostwarden.storage.sql import SqlStore
from tests.pgserver import PgServer, find_bin

BACKENDS = ["memory", "sqlite", "postgres"]
_db_counter = 0


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole run, started the first time a test needs it."""
    if not find_bin("initdb"):
        pytest.fail("PostgreSQL server binaries not found: run ./scripts/test, which installs them")
    server = PgServer()
    server.start()
    yield server
    server.stop()


async def _fresh_pg_database(server: PgServer) -> str:
    global _db_counter
    _db_counter += 1
    name = f"t{os.getpid()}_{_db_counter}"
    admin = create_async_engine(server.url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return server.url.rsplit("/", 1)[0] + f"/{name}"


async def database_url_for(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of ``backend`` ("sqlite" or "postgres")."""
    if backend == "sqlite":
        return str(tmp_path / f"store-{os.urandom(4).hex()}.db")
    pg_server: PgServer = request.getfixturevalue("pg_server")
    return await _fresh_pg_database(pg_server)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    if backend == "memory":
        return MemoryStore()
    return SqlStore(await database_url_for(backend, tmp_path, request))


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A started store of each backend."""
    backend = await make_store(request.param, tmp_path, request)
    await backend.start()
    yield backend
    await backend.close()


def fast_settings(**sections: Any) -> CoreSettings:
    """Core settings with a TOTP key; argon2 stays at OWASP's minimum cost."""
    totp = sections.pop("totp", TotpSettings(encryption_key=SecretStr(generate_key())))
    return CoreSettings(totp=totp, **sections)


@pytest.fixture
async def core(clock: ManualClock) -> AsyncIterator[AccessCore]:
    """A core over the memory store and a manual clock."""
    instance = AccessCore(MemoryStore(), fast_settings(), clock)
    await instance.start()
    yield instance
    await instance.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
