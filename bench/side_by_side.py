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
per second; the ratios are hostwarden over a baseline. Each load runs ``--rounds`` times (3),
every side once a round in turn, each time on a fresh store; the table shows the medians, so a
slow spell of the shared machine (a load lasts from half a second) does not land on one side.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import TextIO, cast

from bench import pytmbot_like
from bench.common import ALLOWED_ID, Backends, started_core, table
from bench.pytmbot_like import PyTMBotLike, StdlibPyTMBotLike
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.runtime import configure_logging, freeze_startup_heap

CLIENTS = 64
ROUNDS = 3  # every side once per round, in turn; the median is shown
Sender = Callable[[int], int]


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


async def _baseline(kind: type[PyTMBotLike | StdlibPyTMBotLike], n: int, sender: Sender) -> float:
    manual = ManualClock()
    middleware = kind({ALLOWED_ID}, manual)

    async def check(user_id: int) -> None:
        middleware.check(user_id)

    return await run(manual, n, sender, check)


async def _hostwarden(backends: Backends, name: str, n: int, sender: Sender) -> float:
    async with started_core(backends, name) as core:
        freeze_startup_heap()  # as the bot and the console do once wired
        clock = core.clock
        assert isinstance(clock, ManualClock)

        async def decide(user_id: int) -> None:
            await core.guard.decide(Actor(telegram_id=user_id), "host.view")

        return await run(clock, n, sender, decide)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--backends", default="memory,sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    stream = cast(TextIO, NullStream())  # formats every line, keeps none
    configure_logging(stream)
    pytmbot_like.configure(stream)
    names = args.backends.split(",")
    kinds = {"loguru": PyTMBotLike, "stdlib": StdlibPyTMBotLike}
    # rates[side][load]: one figure per round; every side runs once per round, in turn.
    rates: dict[str, list[list[float]]] = {side: [] for side in [*kinds, *names]}
    backends = Backends()
    try:
        for _, sender, n in loads(args.scale):
            for side in rates:
                rates[side].append([])
            for _ in range(args.rounds):
                for side, kind in kinds.items():
                    rates[side][-1].append(await _baseline(kind, n, sender))
                for name in names:
                    rates[name][-1].append(await _hostwarden(backends, name, n, sender))
    finally:
        backends.close()
    median = {side: [statistics.median(r) for r in per_load] for side, per_load in rates.items()}
    rows: list[list[object]] = [
        [f"pyTMBot-like, {label}, memory, nothing persisted", *(f"{r:,.0f}" for r in median[side])]
        for side, label in (("loguru", "loguru as shipped"),
                            ("stdlib", "stdlib logging (lighter than shipped)"))
    ]  # fmt: skip
    for name in names:
        cells = [
            f"{r:,.0f} ({r / a:.2f}; {r / b:.2f})"
            for r, a, b in zip(median[name], median["loguru"], median["stdlib"], strict=True)
        ]
        rows.append([f"hostwarden, {name}, everything persisted", *cells])
    print(
        f"Messages per second ({CLIENTS} at a time; the median of {args.rounds} rounds, every "
        "side once a round; in brackets: hostwarden's ratio to the loguru-as-shipped baseline; "
        "to the lighter stdlib-logging baseline)\n"
    )
    print(table(["", *(name for name, _, _ in loads(args.scale))], rows))


if __name__ == "__main__":
    asyncio.run(main())
