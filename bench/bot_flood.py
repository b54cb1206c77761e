"""A flood of strangers through the whole bot: throughput, alerts, memory, and a user's latency.

    uv run python -m bench.bot_flood [--updates 100000] [--ids 20000] [--backend memory]

Updates from ``--ids`` distinct unknown IDs arrive round-robin through ``feed_update`` (the gate,
FSM and routers, as from polling) while simulated time advances 5 ms per update. Every 200th
update (once a simulated second, within the rate limit) an allowed user sends /getmyid and its
latency is measured. The alert outbox is delivered to a counting admin chat every simulated
second, as the running bot does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc

from tests.bot.fakes import message_update

from bench.bot_common import QuietSession, bench_bot
from bench.common import ALLOWED_ID, Backends, percentile, table
from bench.flood import rss_mib
from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from hostwarden.core.decision import OutboxEntry

BATCH = 100  # updates per getUpdates answer, at most (Telegram's limit)


class CountingChat:
    name = "telegram:1"
    messages = 0

    async def send(self, text: str) -> None:
        CountingChat.messages += 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--ids", type=int, default=20_000)
    parser.add_argument("--backend", default="memory")
    args = parser.parse_args()
    traced = args.backend == "memory"
    if traced:
        tracemalloc.start()
    backends = Backends()
    async with bench_bot(backends, args.backend) as app:
        clock = app.core.clock
        assert isinstance(clock, ManualClock)
        delivery = app.core.dispatcher([CountingChat()])
        raised = 0
        plan = app.core.alerts.plan

        def counted(alert: Alert) -> OutboxEntry:
            nonlocal raised
            raised += 1
            return plan(alert)

        app.core.alerts.plan = counted  # type: ignore[method-assign]
        latencies: list[float] = []

        async def timed(began: float) -> None:
            await app.dispatcher.feed_update(app.bot, message_update(ALLOWED_ID, "/getmyid"))
            latencies.append(time.perf_counter() - began)

        start = time.perf_counter()
        for first in range(0, args.updates, BATCH):
            # As aiogram's polling does: a batch from getUpdates, each update its own task.
            began = time.perf_counter()
            tasks = [
                app.dispatcher.feed_update(
                    app.bot, message_update(2_000_000_000 + i % args.ids, "/status")
                )
                for i in range(first, min(first + BATCH, args.updates))
            ]
            if first % 200 == 0:  # once a simulated second, the allowed user, in the batch
                tasks.insert(len(tasks) // 2, timed(began))
            await asyncio.gather(*tasks)
            clock.advance(0.005 * BATCH)
            if first % 200 == 0:
                while await delivery.deliver_due(limit=1000):
                    pass
        elapsed = time.perf_counter() - start
        while await delivery.deliver_due(limit=1000):
            pass
        gc.collect()
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else rss_mib()
        blocks = len(await app.core.lockout.list_blocks())
    backends.close()
    answered = QuietSession.sent
    assert answered == len(latencies), f"the allowed user got {answered} of {len(latencies)}"
    total = args.updates + len(latencies)
    print(
        f"backend: {args.backend}; {args.updates:,} updates from {args.ids:,} unknown IDs, "
        f"{len(latencies):,} from an allowed user interleaved\n"
    )
    memory = "peak traced MiB" if traced else "final resident MiB"
    print(
        table(
            [
                "updates/s",
                "alerts raised",
                "admin chat messages",
                "blocked IDs",
                memory,
                "user p50 ms",
                "user p99 ms",
            ],
            [
                [
                    f"{total / elapsed:,.0f}",
                    f"{raised:,}",
                    f"{CountingChat.messages:,}",
                    f"{blocks:,}",
                    f"{peak:,.1f}",
                    f"{percentile(latencies, 0.5) * 1000:.2f}",
                    f"{percentile(latencies, 0.99) * 1000:.2f}",
                ]
            ],
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
