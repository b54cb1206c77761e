"""Memory while 100,000 distinct unknown Telegram IDs hit the guard (memory backend).

    uv run python -m bench.flood [--ids 100000] [--rate 10]

Simulated time advances 1/rate seconds per update, housekeeping runs every simulated minute and
the alert outbox is drained as a running bot would. Memory is Python's traced allocation.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc

from bench.common import Backends, started_core, table
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor


class NullChat:
    sent = 0

    async def send(self, text: str) -> None:
        NullChat.sent += 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ids", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=10.0, help="updates per simulated second")
    args = parser.parse_args()
    backends = Backends()
    rows: list[list[object]] = []
    tracemalloc.start()
    async with started_core(backends, "memory") as core:
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
                current, _ = tracemalloc.get_traced_memory()
                rows.append(
                    [
                        f"{i + 1:,}",
                        f"{(i + 1) / args.rate:,.0f}",
                        f"{await core.store.counters.size():,}",
                        f"{current / 2**20:,.1f}",
                    ]
                )
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    print(
        f"{args.ids:,} distinct unknown IDs at {args.rate:g}/s simulated "
        f"(window {window} s): {args.ids / elapsed:,.0f} updates/s measured, "
        f"{NullChat.sent:,} alert messages delivered, peak {peak / 2**20:,.1f} MiB traced\n"
    )
    print(table(["updates", "simulated s", "counters kept", "traced MiB"], rows))
    print(
        f"\nBound: counters <= rate x window = {args.rate * window:,.0f} "
        "(and <= the memory store's cap of 100,000); audit ring <= 100,000 events."
    )


if __name__ == "__main__":
    asyncio.run(main())
