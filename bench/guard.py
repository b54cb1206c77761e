"""Guard decisions per second for allowed, unknown and blocked actors, per backend.

uv run python -m bench.guard [--n 2000] [--backends memory,sqlite,postgres]
"""

from __future__ import annotations

import asyncio
import time

from bench.common import ALLOWED_ID, Backends, per_backend, started_core, table
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor


async def measure(backends: Backends, name: str, n: int) -> list[object]:
    rates: list[object] = [name]
    async with started_core(backends, name) as core:
        clock = core.clock
        assert isinstance(clock, ManualClock)
        allowed = Actor(telegram_id=ALLOWED_ID)
        await core.guard.decide(allowed, "host.view")  # first contact creates the account
        access = core.settings.access
        pace = access.rate_window_seconds / access.rate_limit  # at the rate limit, not over it
        start = time.perf_counter()
        for _ in range(n):
            clock.advance(pace)
            assert (await core.guard.decide(allowed, "host.view")).allowed
        rates.append(f"{n / (time.perf_counter() - start):,.0f}")

        start = time.perf_counter()
        for i in range(n):
            await core.guard.decide(Actor(telegram_id=500_000_000 + i), "host.view")
        rates.append(f"{n / (time.perf_counter() - start):,.0f}")

        blocked = Actor(telegram_id=900_000_000)
        for _ in range(3):
            await core.guard.decide(blocked, "host.view")
        start = time.perf_counter()
        for _ in range(n):
            assert (await core.guard.decide(blocked, "host.view")).reason == "blocked"
        rates.append(f"{n / (time.perf_counter() - start):,.0f}")
    return rates


async def main() -> None:
    n, rows = await per_backend(__doc__, 2000, measure)
    print(f"Guard decisions per second ({n} decisions each, one client, sequential)\n")
    print(table(["backend", "allowed", "unknown (distinct IDs)", "blocked"], rows))


if __name__ == "__main__":
    asyncio.run(main())
