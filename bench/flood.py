"""Memory while distinct unknown Telegram IDs hit the guard: does state level off?

    uv run python -m bench.flood [--ids 100000] [--rate 10] [--backend memory|sqlite|postgres]

Simulated time advances 1/rate seconds per update, housekeeping runs every simulated minute and
the alert outbox is drained as a running bot would. Memory is Python's traced allocation.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import tracemalloc

from bench.common import Backends, started_core, table
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor


def rss_mib() -> float:
    """Resident memory of this process (Linux)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class NullChat:
    name = "telegram:1"
    sent = 0

    async def send(self, text: str) -> None:
        NullChat.sent += 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ids", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=10.0, help="updates per simulated second")
    parser.add_argument("--backend", default="memory")
    args = parser.parse_args()
    backends = Backends()
    rows: list[list[object]] = []
    # tracemalloc slows SQLAlchemy several-fold: for SQL backends, read the resident size instead.
    traced = args.backend == "memory"
    if traced:
        tracemalloc.start()
    async with started_core(backends, args.backend) as core:
        clock = core.clock
        assert isinstance(clock, ManualClock)
        dispatcher = core.dispatcher([NullChat()])
        window = core.settings.lockout.window_seconds
        step = max(args.ids // 10, 1)
        start = time.perf_counter()
        for i in range(args.ids):
            await core.guard.decide(Actor(telegram_id=1_000_000_000 + i), "host.view")
            clock.advance(1 / args.rate)
            if i % int(60 * args.rate) == 0:
                await core.maintain()
                await dispatcher.deliver_due(limit=1000)
            if (i + 1) % step == 0:
                gc.collect()
                current = tracemalloc.get_traced_memory()[0] if traced else rss_mib() * 2**20
                rows.append(
                    [
                        f"{i + 1:,}",
                        f"{(i + 1) / args.rate:,.0f}",
                        f"{await core.store.counters.size():,}",
                        f"{current / 2**20:,.1f}",
                    ]
                )
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if traced else rss_mib() * 2**20
    backends.close()
    print(f"backend: {args.backend}")
    print(
        f"{args.ids:,} distinct unknown IDs at {args.rate:g}/s simulated "
        f"(window {window} s): {args.ids / elapsed:,.0f} updates/s measured, "
        f"{NullChat.sent:,} alert messages delivered, "
        f"{'peak traced' if traced else 'final resident'} {peak / 2**20:,.1f} MiB\n"
    )
    memory = "traced MiB" if traced else "resident MiB"
    print(table(["updates", "simulated s", "counters kept", memory], rows))
    bound = f"\nBound: counters <= rate x window = {args.rate * window:,.0f}"
    if traced:
        bound += " (and <= the memory store's cap of 100,000); audit ring <= 100,000 events."
    else:
        bound += " rows, pruned by housekeeping; the process holds no per-actor state."
    print(bound)


if __name__ == "__main__":
    asyncio.run(main())
