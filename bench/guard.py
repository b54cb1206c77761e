"""Guard decisions per second for allowed, unknown and blocked actors, per backend.

One client deciding one request after another, and 64 clients at once (as aiogram runs updates
as concurrent tasks, and the console serves requests): concurrent decisions share a transaction.

uv run python -m bench.guard [--n 4000] [--backends memory,sqlite,postgres]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bench.common import ALLOWED_ID, Backends, per_backend, started_core, table
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore

CLIENTS = 64
ALLOWED = [ALLOWED_ID + i for i in range(CLIENTS)]

Decide = Callable[[int], Awaitable[object]]


async def rate(core: AccessCore, n: int, clients: int, decide: Decide) -> str:
    """Decisions per second for ``n`` calls of ``decide(i)``, ``clients`` at a time."""
    clock = core.clock
    assert isinstance(clock, ManualClock)
    access = core.settings.access
    # Each allowed actor stays at its rate limit, never over it.
    pace = access.rate_window_seconds / access.rate_limit
    start = time.perf_counter()
    for first in range(0, n, clients):
        clock.advance(pace)
        await asyncio.gather(*(decide(i) for i in range(first, min(first + clients, n))))
    return f"{n / (time.perf_counter() - start):,.0f}"


async def measure(backends: Backends, name: str, n: int) -> list[object]:
    row: list[object] = [name]
    async with started_core(backends, name, allowed=ALLOWED) as core:
        for telegram_id in ALLOWED:  # first contact creates the accounts
            await core.guard.decide(Actor(telegram_id=telegram_id), "host.view")
        blocked = Actor(telegram_id=900_000_000)
        await core.lockout.block("tg:900000000", "bench")  # until lifted: the clock moves on

        async def allowed(i: int) -> None:
            actor = Actor(telegram_id=ALLOWED[i % CLIENTS])
            assert (await core.guard.decide(actor, "host.view")).allowed

        fresh = [500_000_000]  # distinct IDs in every run

        async def unknown(i: int) -> None:
            await core.guard.decide(Actor(telegram_id=fresh[0] + i), "host.view")

        async def still_blocked(i: int) -> None:
            assert (await core.guard.decide(blocked, "host.view")).reason == "blocked"

        for clients in (1, CLIENTS):
            row.append(await rate(core, n, clients, allowed))
            row.append(await rate(core, n, clients, unknown))
            row.append(await rate(core, n, clients, still_blocked))
            fresh[0] += n
    return row


async def main() -> None:
    n, rows = await per_backend(__doc__, 4000, measure)
    print(f"Guard decisions per second ({n} decisions each; 1 client, then {CLIENTS} at once)\n")
    headers = ["backend"] + [
        f"{kind} ({clients})"
        for clients in (1, CLIENTS)
        for kind in ("allowed", "unknown", "blocked")
    ]
    print(table(headers, rows))


if __name__ == "__main__":
    asyncio.run(main())
