"""The stream plumbing with a scripted source: back-off, engine lost and back, prompt stop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

from hostwarden.containers.engine import RuntimeState
from hostwarden.containers.event_rules import EventJudge, EventRules
from hostwarden.containers.follower import MAX_RETRY_SECONDS, EventFollower, EventStream
from hostwarden.core.clock import ManualClock
from hostwarden.errors import Unavailable
from tests.containers.events_recorded import PODMAN_DIE_EXIT_1, podman_event, podman_run
from tests.containers.sink import Sink

MIB = 1024 * 1024


class ScriptedStream:
    """Yields ``events``; then ends, or (``hold``) blocks like a live stream until closed."""

    def __init__(self, events: list[Any], hold: bool = False) -> None:
        self.events = events
        self.hold = hold
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.events
        if self.hold:
            self.closed.wait(30)

    def close(self) -> None:
        self.closed.set()


class ScriptedSource:
    """Each open takes the next step: an exception to raise or a stream to return."""

    def __init__(self, steps: list[BaseException | ScriptedStream]) -> None:
        self.steps = steps
        self.opened = 0

    def open(self) -> EventStream:
        self.opened += 1
        step = self.steps.pop(0) if self.steps else ConnectionRefusedError("refused")
        if isinstance(step, BaseException):
            raise step
        return step


class Sleeper:
    """The injected sleep: records the delay, moves the manual clock, stops after ``limit``."""

    def __init__(self, clock: ManualClock, stop: asyncio.Event, limit: int) -> None:
        self.clock = clock
        self.stop = stop
        self.limit = limit
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)
        if len(self.delays) >= self.limit:
            self.stop.set()


class Reader:
    def __init__(self, state: RuntimeState | None) -> None:
        self.state = state
        self.asked: list[str] = []

    async def runtime_state(self, name: str) -> RuntimeState:
        self.asked.append(name)
        if self.state is None:
            raise Unavailable("the container engine did not answer")
        return self.state


def follower(
    source: ScriptedSource, sleeps: int, reader: Reader | None = None
) -> tuple[EventFollower, Sink, Sleeper, asyncio.Event]:
    clock, stop, sink = ManualClock(), asyncio.Event(), Sink()
    sleeper = Sleeper(clock, stop, sleeps)
    judge = EventJudge(EventRules(muted=frozenset({"quiet"})))
    made = EventFollower(sink, clock, source, judge, engine=reader, sleep=sleeper)
    return made, sink, sleeper, stop


async def test_engine_lost_then_back_alerts_once_each_way_with_back_off() -> None:
    refused = ConnectionRefusedError("refused")
    events = ScriptedStream([*podman_run("exp-exit1"), PODMAN_DIE_EXIT_1])
    source = ScriptedSource([refused, events, refused, refused, ScriptedStream([])])
    made, sink, sleeper, stop = follower(source, sleeps=7)
    await asyncio.wait_for(made.run(stop), 10)
    assert sink.titles == [
        # Not reached yet at the start: only logged.
        "Container exp-exit1 exited",
        "Container engine unreachable",  # the stream ended and the engine stayed away
        "Container engine is back",
        "Container engine unreachable",  # that stream ended at once, and the engine went away
    ]
    assert "the 3 s away" in sink.alerts[2].detail  # 1 + 2 s of back-off
    # Doubling from 1 s up to the cap; reset after a stream that delivered events.
    assert sleeper.delays == [1, 1, 2, 4, 8, 16, 32]
    assert source.opened == 8


async def test_back_off_stops_doubling_at_the_cap() -> None:
    made, _, sleeper, stop = follower(ScriptedSource([]), sleeps=10)
    await asyncio.wait_for(made.run(stop), 10)
    assert sleeper.delays[-3:] == [MAX_RETRY_SECONDS] * 3


async def test_a_stream_that_opens_and_ends_at_once_does_not_spin() -> None:
    source = ScriptedSource([ScriptedStream([]) for _ in range(5)])
    made, sink, sleeper, stop = follower(source, sleeps=4)
    await asyncio.wait_for(made.run(stop), 10)
    assert sleeper.delays == [1, 2, 4, 8] and sink.titles == []


async def test_stop_ends_a_blocked_stream_at_once() -> None:
    stream = ScriptedStream([], hold=True)
    made, _, _, stop = follower(ScriptedSource([stream]), sleeps=100)
    task = asyncio.create_task(made.run(stop))
    await asyncio.wait_for(made.streaming.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert stream.closed.is_set() and not made.streaming.is_set()


async def run_events(events: list[Any], reader: Reader) -> Sink:
    stream = ScriptedStream(events)
    made, sink, _, stop = follower(ScriptedSource([stream]), sleeps=1, reader=reader)
    await asyncio.wait_for(made.run(stop), 10)
    return sink


async def test_what_podman_leaves_out_is_asked_of_the_engine() -> None:
    reader = Reader(RuntimeState(oom_killed=False, memory_limit=6 * MIB, health="unhealthy"))
    sink = await run_events(
        [*podman_run(), podman_event("health_status"), podman_event("die", exit_code=137)], reader
    )
    assert sink.titles[:2] == ["Container web is unhealthy", "Container web killed: out of memory"]
    assert len(reader.asked) == 2


async def test_an_engine_that_cannot_say_leaves_the_event_as_it_came() -> None:
    sink = await run_events([*podman_run(), podman_event("die", exit_code=137)], Reader(None))
    assert sink.titles[0] == "Container web exited"


async def test_bad_and_muted_events_are_skipped_without_asking() -> None:
    reader = Reader(RuntimeState(oom_killed=True, memory_limit=0, health=None))
    events: list[Any] = [
        "not json",
        {"Type": "container", "Action": "die", "Actor": "nonsense"},
        podman_event("die", "quiet", 1),
        podman_event("die", "web", 1, **{"hostwarden.alerts": "false"}),
        podman_event("die", "web", 1),
    ]
    sink = await run_events(events, reader)
    assert sink.titles[0] == "Container web killed: out of memory"
    assert len(reader.asked) == 1
