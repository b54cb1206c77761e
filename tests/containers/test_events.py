"""Container events from the real engine (podman's Docker API): each failure alerts exactly once.

The follower reads only this test's containers (a label filter: other podman users on the
machine share the event log). Its clock is a ManualClock: the restart loop's window never
passes. Waits are for real events, bounded.

podman's service runs no health checks without systemd (it schedules them as systemd timers),
so the health test runs ``podman healthcheck run`` itself; each run emits ``health_status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.event_rules import EventJudge, EventRules
from hostwarden.containers.event_shapes import ContainerEvent
from hostwarden.containers.follower import DockerEventSource, EventFollower
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import ManualClock
from tests.containers.conftest import LOOP
from tests.containers.podman import IMAGE, PodmanService
from tests.containers.sink import Sink

LABEL = "hwtest-events"
ALLOCATE = "x=a; while true; do x=$x$x; done"
SECOND = 1_000_000_000  # health check times are in nanoseconds


class Following:
    """A running follower over this test's containers, and helpers to make and watch them."""

    def __init__(self, client: docker.DockerClient, engine: ContainerEngine, token: str) -> None:
        self.client = client
        self.engine = engine
        self.token = token
        self.sink = Sink()
        self.seen: list[ContainerEvent] = []
        self.names: list[str] = []

    async def run(self, tag: str, command: str, **options: Any) -> str:
        name = f"hwev-{tag}-{self.token}"
        labels = {LABEL: self.token, **options.pop("labels", {})}
        self.names.append(name)

        def run() -> None:
            self.client.containers.run(
                IMAGE, ["sh", "-c", command], name=name, labels=labels, detach=True, **options
            )

        await asyncio.to_thread(run)
        return name

    def count(self, name: str, action: str) -> int:
        return sum(1 for e in self.seen if e.name == name and e.action == action)

    async def until(self, ready: Callable[[], bool], seconds: float = 60) -> None:
        """Wait (bounded) for the engine's events: they come when the engine sends them."""
        deadline = time.monotonic() + seconds
        while not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; seen {[(e.name, e.action) for e in self.seen]}")
            await asyncio.sleep(0.05)

    async def start(self, name: str) -> None:
        await asyncio.to_thread(self.client.containers.get(name).start)

    def remove_all(self) -> None:
        for name in self.names:
            for _ in range(50):  # a container in a restart loop may be between runs: retry
                try:
                    self.client.containers.get(name).remove(force=True)
                    break
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError:
                    time.sleep(0.1)


@pytest.fixture
async def following(
    podman: PodmanService, engine_client: docker.DockerClient
) -> AsyncIterator[Following]:
    token = secrets.token_hex(4)
    engine = ContainerEngine(ContainerSettings(docker_url=podman.url, timeout_seconds=30))
    watch = Following(engine_client, engine, token)
    source = DockerEventSource(podman.url, 30, filters={"label": [f"{LABEL}={token}"]})
    follower = EventFollower(
        watch.sink,
        ManualClock(),
        source,
        EventJudge(EventRules(), engine.expected),
        engine=engine,
        observe=watch.seen.append,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(stop))
    await asyncio.wait_for(follower.streaming.wait(), 30)
    try:
        yield watch
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await asyncio.to_thread(watch.remove_all)
        await engine.close()


async def test_exit_1_alerts_once_and_a_muted_container_never(following: Following) -> None:
    failing = await following.run("exit1", "exit 1")
    muted = await following.run("muted", "exit 1", labels={"hostwarden.alerts": "false"})
    await following.until(
        lambda: following.count(failing, "die") > 0 < following.count(muted, "die")
    )
    assert following.sink.titles == [f"Container {failing} exited"]
    assert "exit code 1" in following.sink.alerts[0].detail
    for dies in (2, 3):  # started again, failing again: still the same failure
        await following.start(failing)
        await following.until(lambda: following.count(failing, "die") >= dies)  # noqa: B023
    assert len(following.sink.alerts) == 1


async def test_a_container_killed_for_memory_alerts_once(following: Following) -> None:
    name = await following.run("oom", ALLOCATE, mem_limit="6m", memswap_limit="6m")
    await following.until(lambda: following.count(name, "die") >= 1)
    [die] = [e for e in following.seen if e.action == "die"]
    assert die.exit_code == 137 and not die.oom_reported  # podman 4.3: no oom event, no flag
    assert following.sink.titles == [f"Container {name} killed: out of memory"]
    await following.start(name)
    await following.until(lambda: following.count(name, "die") >= 2)
    assert len(following.sink.alerts) == 1


async def test_a_failing_health_check_alerts_once(
    following: Following, podman: PodmanService
) -> None:
    check = {"test": ["CMD-SHELL", "exit 1"], "interval": 3600 * SECOND, "retries": 1}
    name = await following.run("health", LOOP, healthcheck={**check, "timeout": 5 * SECOND})
    await following.until(lambda: following.count(name, "start") == 1)
    for _ in range(3):
        with contextlib.suppress(RuntimeError):  # `healthcheck run` exits 1 when unhealthy
            await asyncio.to_thread(podman.podman, "healthcheck", "run", name)
    await following.until(lambda: following.count(name, "health_status") == 3)
    assert following.sink.titles == [f"Container {name} is unhealthy"]


async def test_a_restart_loop_alerts_once(following: Following) -> None:
    name = await following.run("loop", LOOP)
    container = following.client.containers.get(name)
    for restarts in range(1, 7):  # restarted from outside, again and again
        await asyncio.to_thread(container.restart, timeout=5)
        await following.until(lambda: following.count(name, "start") >= 1 + restarts)  # noqa: B023
    assert following.sink.titles == [f"Container {name} is in a restart loop"]
    assert "3 restarts within 10 min" in following.sink.alerts[0].detail


async def test_a_crash_loop_alerts_the_exit_then_the_loop_and_nothing_more(
    following: Following,
) -> None:
    name = await following.run("crash", "exit 3", restart_policy={"Name": "on-failure"})
    await following.until(lambda: following.count(name, "start") >= 8)
    assert following.sink.titles == [
        f"Container {name} exited",
        f"Container {name} is in a restart loop",
    ]


async def test_hostwardens_own_actions_are_quiet_and_an_outside_stop_alerts_once(
    following: Following, podman: PodmanService
) -> None:
    name = await following.run("svc", LOOP)
    await following.until(lambda: following.count(name, "start") == 1)
    await following.engine.stop(name)
    await following.engine.start(name)
    await following.engine.restart(name)
    await following.until(
        lambda: following.count(name, "start") >= 3 and following.count(name, "die") >= 2
    )
    assert following.sink.titles == []
    await asyncio.to_thread(podman.podman, "stop", "-t", "2", name)
    await following.until(lambda: following.count(name, "die") >= 3)
    assert following.sink.titles == [f"Container {name} stopped outside hostwarden"], str(
        [(e.action, e.exit_code) for e in following.seen]
    )


async def test_engine_unreachable_then_back_alerts_once_each_way(tmp_path: Path) -> None:
    directory = tmp_path / "engine"
    directory.mkdir()
    services = [await asyncio.to_thread(PodmanService, directory)]
    stop = asyncio.Event()
    clock = ManualClock()
    sink = Sink()
    restarted = asyncio.Event()

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        if "Container engine unreachable" in sink.titles and not restarted.is_set():
            services.append(await asyncio.to_thread(PodmanService, directory))  # back
            restarted.set()

    # Only this test's (absent) containers: others on the machine would add their alerts.
    label = {"label": [f"{LABEL}={secrets.token_hex(4)}"]}
    source = DockerEventSource(f"unix://{directory / 'podman.sock'}", 10, filters=label)
    follower = EventFollower(sink, clock, source, EventJudge(EventRules()), sleep=sleep)
    task = asyncio.create_task(follower.run(stop))
    try:
        await asyncio.wait_for(follower.streaming.wait(), 60)
        assert sink.titles == []  # first contact
        await asyncio.to_thread(services[0].stop)  # the engine goes away mid-stream
        await asyncio.wait_for(restarted.wait(), 60)
        await asyncio.wait_for(follower.streaming.wait(), 60)
        assert sink.titles == ["Container engine unreachable", "Container engine is back"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        for service in services:
            service.stop()
