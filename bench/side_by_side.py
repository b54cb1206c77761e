"""hostwarden's guard beside two minimal in-memory "pyTMBot-like" access middlewares, same loads.

    uv run python -m bench.side_by_side [--scale 1.0] [--backends memory,sqlite,postgres]

The baselines (:mod:`bench.pytmbot_like`) do what pyTMBot 0.3.3's access control does: an
allow-list, a per-ID attempt counter, a block at the 3rd attempt for an hour, an admin
notification at most once per ID every 300 s, nothing persisted, Telegram calls stubbed. They
differ in their logging:

* "loguru as shipped" logs through loguru, pyTMBot's own logger, as pyTMBot sets it up by
  default (prod mode: two loguru sinks at INFO whose filter sanitises the message and every
  bound field, one compact JSON line per record; per log call the message's context bound into
  a new loguru logger). This is the baseline the ratios are computed against.
* "stdlib logging (lighter than shipped)" is the earlier imitation through the standard
  library's ``logging`` (a smaller context, three patterns, one text line per record): several
  times faster than pyTMBot as shipped. The ratios against it are printed too, second.

hostwarden decides with ``Guard.decide`` (64 requests at a time, as aiogram runs updates as
tasks), persists every count, block, audit event and alert, and logs one JSON audit line per
event. All log to a stream that discards the text once formatted.

Loads: one allowed user (64 messages every simulated 0.5 s: over hostwarden's rate limit most of
the time, so mostly counted and dropped there); 20,000 unknown IDs five times each; 100,000
unknown IDs once each. Each side's first contact with the allowed user is not timed. Messages
per second; the ratios are hostwarden over a baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from typing import TextIO, cast

from bench import pytmbot_like
from bench.common import ALLOWED_ID, Backends, started_core, table
from bench.pytmbot_like import PyTMBotLike, StdlibPyTMBotLike
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore
from hostwarden.runtime import configure_logging, freeze_startup_heap

CLIENTS = 64


class NullStream(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


Loads = list[tuple[str, Callable[[int], int], int]]


def loads(scale: float) -> Loads:
    """(name, message number -> sender ID, messages)."""
    ids = int(20_000 * scale)
    return [
        ("1 allowed user", lambda i: ALLOWED_ID, int(20_000 * scale)),
        ("20,000 unknown IDs x 5", lambda i: 500_000_000 + i % ids, int(100_000 * scale)),
        ("100,000 unknown IDs x 1", lambda i: 700_000_000 + i, int(100_000 * scale)),
    ]


async def run(
    clock: ManualClock,
    n: int,
    sender: Callable[[int], int],
    decide: Callable[[int], Awaitable[object]],
) -> float:
    await decide(ALLOWED_ID)  # first contact (hostwarden makes the config user's account) untimed
    start = time.perf_counter()
    for first in range(0, n, CLIENTS):
        # 64 messages every simulated 0.5 s: the allowed user is over hostwarden's rate limit
        # (20 per 10 s) most of the time, so most of its messages are counted and dropped there;
        # pyTMBot's access control has no rate limit (its own is a separate middleware).
        clock.advance(0.5)
        await asyncio.gather(*(decide(sender(i)) for i in range(first, min(first + CLIENTS, n))))
    return n / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--backends", default="memory,sqlite,postgres")
    args = parser.parse_args()
    stream = cast(TextIO, NullStream())  # formats every line, keeps none
    configure_logging(stream)
    pytmbot_like.configure(stream)
    rows: list[list[object]] = []
    baselines: list[list[float]] = []
    for label, kind in (
        ("pyTMBot-like, loguru as shipped", PyTMBotLike),
        ("pyTMBot-like, stdlib logging (lighter than shipped)", StdlibPyTMBotLike),
    ):
        rates: list[float] = []
        for _, sender, n in loads(args.scale):
            manual = ManualClock()
            middleware = kind({ALLOWED_ID}, manual)

            async def check(user_id: int, m: PyTMBotLike | StdlibPyTMBotLike = middleware) -> None:
                m.check(user_id)

            rates.append(await run(manual, n, sender, check))
        baselines.append(rates)
        rows.append([f"{label}, memory, nothing persisted", *(f"{r:,.0f}" for r in rates)])
    loguru, stdlib = baselines
    backends = Backends()
    try:
        for name in args.backends.split(","):
            rates = []
            for _, sender, n in loads(args.scale):
                async with started_core(backends, name) as core:
                    freeze_startup_heap()  # as the bot and the console do once wired
                    clock = core.clock
                    assert isinstance(clock, ManualClock)

                    async def decide(user_id: int, core: AccessCore = core) -> None:
                        await core.guard.decide(Actor(telegram_id=user_id), "host.view")

                    rates.append(await run(clock, n, sender, decide))
            cells = [
                f"{r:,.0f} ({r / a:.2f}; {r / b:.2f})"
                for r, a, b in zip(rates, loguru, stdlib, strict=True)
            ]
            rows.append([f"hostwarden, {name}, everything persisted", *cells])
    finally:
        backends.close()
    print(
        f"Messages per second ({CLIENTS} at a time; in brackets: hostwarden's ratio to the "
        "loguru-as-shipped baseline; to the lighter stdlib-logging baseline)\n"
    )
    print(table(["", *(name for name, _, _ in loads(args.scale))], rows))


if __name__ == "__main__":
    asyncio.run(main())
