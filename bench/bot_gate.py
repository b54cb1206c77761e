"""What the access gate costs: updates per second through feed_update, with and without it.

    uv run python -m bench.bot_gate [--n 6000] [--backends memory,sqlite,postgres]

An allowed user sends /getmyid (a handler that replies without touching the host), so the
difference is the gate: the guard's decision, its store reads and its audit.

The two dispatchers take turns, ROUNDS rounds of n / ROUNDS updates each, the order swapped every
round; the table shows the medians (the ratio is the median of the rounds' ratios), so a shared
machine that slows down for a while weighs on both sides alike instead of on whichever ran then.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from tests.bot.fakes import message_update

from bench.bot_common import bench_bot, ungated_dispatcher
from bench.common import ALLOWED_ID, Backends, per_backend, table
from hostwarden.core.clock import ManualClock
from hostwarden.runtime import freeze_startup_heap

ROUNDS = 20  # of 300 updates each at the default size


async def measure(backends: Backends, backend: str, n: int) -> list[object]:
    async with bench_bot(backends, backend) as app:
        freeze_startup_heap()  # as `hostwarden bot` does once wired
        updates = [message_update(ALLOWED_ID, "/getmyid") for _ in range(n)]
        plain = ungated_dispatcher(app.services)
        clock = app.core.clock
        assert isinstance(clock, ManualClock)
        access = app.core.settings.access
        pace = access.rate_window_seconds / access.rate_limit
        for dispatcher in (plain, app.dispatcher):
            for update in updates[:50]:  # warm up
                clock.advance(pace)
                await dispatcher.feed_update(app.bot, update)
        size = max(n // ROUNDS, 1)
        sides = (plain, app.dispatcher)
        rates: tuple[list[float], list[float]] = ([], [])  # updates/s per round, per side
        for round_ in range(ROUNDS):
            for side in (0, 1) if round_ % 2 == 0 else (1, 0):
                start = time.perf_counter()
                for update in updates[:size]:
                    clock.advance(pace)  # the user stays at the rate limit, never over it
                    await sides[side].feed_update(app.bot, update)
                rates[side].append(size / (time.perf_counter() - start))
        without, with_gate = statistics.median(rates[0]), statistics.median(rates[1])
        ratio = statistics.median(g / p for p, g in zip(*rates, strict=True))
        return [backend, f"{without:,.0f}", f"{with_gate:,.0f}", f"{ratio:.2f}",
                f"{(1 / with_gate - 1 / without) * 1e6:,.0f}"]  # fmt: skip


async def main() -> None:
    n, rows = await per_backend(__doc__, 6000, measure)
    print(f"{n:,} updates from one allowed user, /getmyid, one process\n")
    print(
        table(["backend", "updates/s without gate", "with gate", "ratio", "gate µs/update"], rows)
    )


if __name__ == "__main__":
    asyncio.run(main())
