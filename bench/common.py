"""Shared by the benchmarks: backends (PostgreSQL started on a free port) and table printing."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.pgserver import PgServer

from hostwarden.core.clock import ManualClock
from hostwarden.core.secretbox import generate_key
from hostwarden.core.service import AccessCore, CoreSettings
from hostwarden.core.settings import AccessSettings, TotpSettings
from hostwarden.storage.memory import MemoryStore
from hostwarden.storage.sql import SqlStore

ALLOWED_ID = 100_000_001
T = TypeVar("T")


class Backends:
    """Creates a fresh store per benchmark; owns one PostgreSQL server if asked for."""

    def __init__(self) -> None:
        self._pg: PgServer | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="hostwarden-bench-"))
        self._n = 0

    async def store(self, name: str) -> Any:
        self._n += 1
        if name == "memory":
            return MemoryStore()
        if name == "sqlite":
            return SqlStore(str(self._dir / f"bench{self._n}.db"))
        if self._pg is None:
            self._pg = PgServer()
            await asyncio.to_thread(self._pg.start)
        admin = create_async_engine(self._pg.url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE bench{self._n}"))
        await admin.dispose()
        return SqlStore(self._pg.url.rsplit("/", 1)[0] + f"/bench{self._n}")

    def close(self) -> None:
        if self._pg is not None:
            self._pg.stop()
        shutil.rmtree(self._dir, ignore_errors=True)  # the SQLite files, their WAL included


def bench_settings(allowed: Sequence[int] = (ALLOWED_ID,)) -> CoreSettings:
    return CoreSettings(
        access=AccessSettings(allowed_telegram_ids=list(allowed)),
        totp=TotpSettings(encryption_key=SecretStr(generate_key())),
    )


@asynccontextmanager
async def started_core(
    backends: Backends, name: str, allowed: Sequence[int] = (ALLOWED_ID,)
) -> AsyncIterator[AccessCore]:
    core = AccessCore(await backends.store(name), bench_settings(allowed), ManualClock())
    await core.start()
    try:
        yield core
    finally:
        await core.close()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, so the output pastes into docs/performance.md as it is."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    return "\n".join([line, rule, *body])


async def per_backend(
    description: str | None,
    default_n: int,
    measure: Callable[[Backends, str, int], Awaitable[T]],
) -> tuple[int, list[T]]:
    """Parse ``--n`` and ``--backends``, then run ``measure`` once per backend, in order."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=default_n)
    parser.add_argument("--backends", default="memory,sqlite,postgres")
    args = parser.parse_args()
    backends = Backends()
    try:
        return args.n, [await measure(backends, name, args.n) for name in args.backends.split(",")]
    finally:
        backends.close()
