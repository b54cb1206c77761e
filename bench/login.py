"""Login latency and logins per second, and the timing of the three failure paths, per backend.

uv run python -m bench.login [--n 100] [--backends memory,sqlite,postgres]
"""

from __future__ import annotations

import asyncio
import time

from bench.common import Backends, median, per_backend, percentile, started_core, table
from hostwarden.core.service import AccessCore

PW = "correct horse battery"


async def timed(core: AccessCore, username: str, password: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await core.accounts.login(username, password, "10.0.0.1", "bench")
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def measure(backends: Backends, name: str, n: int) -> tuple[list[object], list[object]]:
    async with started_core(backends, name) as core:
        for user in ("present", "locked"):
            await core.accounts.register(user, PW)
        await core.accounts.lock("locked", "bench")
        ok = await timed(core, "present", PW, n)
        start = time.perf_counter()
        await asyncio.gather(*(core.accounts.login("present", PW) for _ in range(n)))
        rate = n / (time.perf_counter() - start)
        # Interleaved, one of each per round, so that drift in machine load hits all alike.
        # Wrong passwords would block an account after 5: a fresh account every 4 rounds.
        unknown: list[float] = []
        wrong: list[float] = []
        locked: list[float] = []
        for round_ in range(n):
            if round_ % 4 == 0:
                await core.accounts.register(f"w{round_}", PW)
            unknown += await timed(core, "absent", PW, 1)
            wrong += await timed(core, f"w{round_ - round_ % 4}", "wrong password", 1)
            locked += await timed(core, "locked", PW, 1)
    medians = [median(unknown), median(wrong), median(locked)]
    spread = (max(medians) / min(medians) - 1) * 100
    latency = [name, f"{median(ok):.1f}", f"{percentile(ok, 0.99):.1f}", f"{rate:,.0f}"]
    failures = [name, *(f"{m:.1f}" for m in medians), f"{spread:.1f}%"]
    return latency, failures


async def main() -> None:
    n, results = await per_backend(__doc__, 100, measure)
    print(f"Successful logins ({n} each; argon2id m=19 MiB t=2 p=1)\n")
    print(table(["backend", "p50 ms", "p99 ms", "logins/s (concurrent)"], [r[0] for r in results]))
    print("\nFailed logins: median ms per path, and the spread between the slowest and fastest\n")
    print(
        table(
            ["backend", "unknown user", "wrong password", "locked account", "spread"],
            [r[1] for r in results],
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
