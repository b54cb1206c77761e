"""A flood of strangers through the whole bot, delivered as aiogram's polling delivers it.

    uv run python -m bench.bot_flood [--updates 100000] [--ids 20000] [--backend memory]
                                     [--rtt-ms 20]

What it models. The bot runs aiogram's own polling loop (``Dispatcher.start_polling``, one task
per update, at most ``UPDATE_TASKS`` at once, as ``hostwarden bot`` runs it). A fake Telegram
holds the flood as a backlog (strangers queue faster than any bot drains them) and answers each
getUpdates with the next 100 updates as JSON, which aiogram parses itself, after ``--rtt-ms`` of
network round trip. aiogram asks for the next batch as soon as it has started the tasks of the
last one, not when they are done; past ``UPDATE_TASKS`` running it waits for one to finish
before it starts another, so the time an update waits for a free slot counts in its latency.
Updates come from ``--ids`` unknown IDs round-robin
(every stranger is blocked at its third message); every 200th update is an allowed user's
/getmyid, at a place in its batch that moves from one batch to the next. The user's latency runs
from the moment getUpdates handed the update to aiogram to the bot's reply; what the update
waited at Telegram before that (its place in the backlog over the throughput) is no bot's to
shorten. A message the rate limit dropped (when a backlog in the process makes several of the
user's arrive at once) counts as unanswered. Simulated time advances 5 ms per update handed out;
a task of its own delivers the outbox to a counting admin chat every simulated second, as the
running bot's delivery loop does.
The heap left by start-up is frozen first, as ``hostwarden bot`` does, and the audit's JSON log
lines are formatted as the running bot formats them (to a stream that drops them).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import io
import json
import time
import tracemalloc
from typing import Any, TextIO, cast

from aiogram import Bot
from aiogram.methods import GetUpdates, TelegramMethod
from tests.bot.fakes import user_dict

from bench.bot_common import QuietSession, bench_bot
from bench.common import ALLOWED_ID, Backends, percentile, table
from bench.flood import rss_mib
from hostwarden.bot.app import ALL_UPDATE_TYPES, UPDATE_TASKS
from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from hostwarden.core.decision import OutboxEntry
from hostwarden.runtime import configure_logging, freeze_startup_heap

BATCH = 100  # updates per getUpdates answer, at most (Telegram's limit)
USER_EVERY = 200
FIRST_STRANGER = 2_000_000_000


class NullStream(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


class CountingChat:
    name = "telegram:1"
    messages = 0

    async def send(self, text: str) -> None:
        CountingChat.messages += 1


def _update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    chat = {"id": user_id, "type": "private", "first_name": "Test"}
    message = {"message_id": update_id, "date": 1_700_000_000, "chat": chat, "text": text}
    return {"update_id": update_id, "message": {**message, "from": user_dict(user_id)}}


class FloodTelegram(QuietSession):
    """Telegram with a flood waiting: getUpdates hands out the backlog 100 at a time."""

    def __init__(self, updates: int, ids: int, rtt: float, clock: ManualClock) -> None:
        super().__init__()
        self._left, self._senders, self._rtt, self._clock = updates, ids, rtt, clock
        self._next_id = 1
        self._strangers = 0
        self.users = 0
        self._user_at = 0
        self.handed = 0
        self.handed_at: collections.deque[float] = collections.deque()
        self.latencies: list[float] = []
        self.second = asyncio.Event()
        self.drained = asyncio.Event()
        self.started = 0.0

    def _batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while len(batch) < BATCH and self._left:
            if self._strangers == self._user_at:  # one in 200, moving through the batch
                batch.append(_update(self._next_id, ALLOWED_ID, "/getmyid"))
                self.users += 1
                self._user_at = USER_EVERY * self.users + (37 * self.users) % BATCH
            else:
                batch.append(
                    _update(
                        self._next_id, FIRST_STRANGER + self._strangers % self._senders, "/status"
                    )
                )
                self._strangers += 1
                self._left -= 1
            self._next_id += 1
        return batch

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: Any = None) -> Any:  # noqa: ASYNC109
        if not isinstance(method, GetUpdates):
            if getattr(method, "chat_id", None) == ALLOWED_ID:
                self.latencies.append(time.perf_counter() - self.handed_at.popleft())
            return await super().make_request(bot, method, timeout)
        await asyncio.sleep(self._rtt)
        if not self._left:
            self.drained.set()
            await asyncio.Event().wait()  # a long poll with nothing coming: until stopped
        if not self.started:
            self.started = time.perf_counter()
        batch = self._batch()
        now = time.perf_counter()
        self.handed_at.extend(now for u in batch if u["message"]["from"]["id"] == ALLOWED_ID)
        before = self.handed // USER_EVERY
        self.handed += len(batch)
        self._clock.advance(0.005 * len(batch))
        if self.handed // USER_EVERY != before:  # 200 updates: a simulated second
            self.second.set()
        answer = json.dumps({"ok": True, "result": batch})
        return self.check_response(bot, method, 200, answer).result


def _handling(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` is one of aiogram's per-update tasks."""
    return getattr(task.get_coro(), "__qualname__", "") == "Dispatcher._process_update"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--ids", type=int, default=20_000)
    parser.add_argument("--backend", default="memory")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    args = parser.parse_args()
    configure_logging(cast(TextIO, NullStream()))
    traced = args.backend == "memory"
    if traced:
        tracemalloc.start()
    backends = Backends()
    async with bench_bot(backends, args.backend) as app:
        clock = app.core.clock
        assert isinstance(clock, ManualClock)
        telegram = FloodTelegram(args.updates, args.ids, args.rtt_ms / 1000, clock)
        app.bot.session = telegram
        delivery = app.core.dispatcher([CountingChat()])
        raised = 0
        plan = app.core.alerts.plan

        def counted(alert: Alert) -> OutboxEntry:
            nonlocal raised
            raised += 1
            return plan(alert)

        app.core.alerts.plan = counted  # type: ignore[method-assign]

        async def deliver() -> None:
            while True:
                await telegram.second.wait()
                telegram.second.clear()
                while await delivery.deliver_due(limit=1000):
                    pass

        freeze_startup_heap()
        delivering = asyncio.create_task(deliver())
        polling = asyncio.create_task(
            app.dispatcher.start_polling(
                app.bot,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=ALL_UPDATE_TYPES,
                tasks_concurrency_limit=UPDATE_TASKS,
            )
        )
        await telegram.drained.wait()
        while handling := [task for task in asyncio.all_tasks() if _handling(task)]:
            await asyncio.wait(handling)
        elapsed = time.perf_counter() - telegram.started
        await app.dispatcher.stop_polling()
        await polling
        delivering.cancel()
        while await delivery.deliver_due(limit=1000):
            pass
        gc.collect()
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else rss_mib()
        blocks = len(await app.core.lockout.list_blocks())
    backends.close()
    latencies = telegram.latencies
    assert latencies, "the allowed user was never answered"
    print(
        f"backend: {args.backend}; {args.updates:,} updates from {args.ids:,} unknown IDs, "
        f"{len(latencies):,} from an allowed user among them; getUpdates round trip "
        f"{args.rtt_ms:g} ms\n"
    )
    memory = "peak traced MiB" if traced else "final resident MiB"
    headers = ["updates/s", "alerts raised", "admin chat messages", "blocked IDs", memory]
    headers += ["user answered", "user p50 ms", "user p99 ms", "user max ms"]
    row = [f"{telegram.handed / elapsed:,.0f}", f"{raised:,}", f"{CountingChat.messages:,}"]
    row += [f"{blocks:,}", f"{peak:,.1f}", f"{len(latencies)} of {telegram.users}"]
    row += [f"{percentile(latencies, q) * 1000:.2f}" for q in (0.5, 0.99, 1.0)]
    print(table(headers, [row]))


if __name__ == "__main__":
    asyncio.run(main())
