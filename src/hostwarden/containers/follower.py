"""Follows the engine's event stream and raises what :class:`EventJudge` calls for.

The docker SDK's ``events()`` is a blocking generator: it is read in a daemon thread that hands
each event to the asyncio loop through a queue. Stopping closes the stream (its socket), which
ends the read at once. A stream that cannot be opened means the engine is unreachable (one alert
once it had been reached, one more when it is back: :class:`EngineLink`); the follower retries
with back-off, doubling from
:data:`FIRST_RETRY_SECONDS` to :data:`MAX_RETRY_SECONDS`, sleeping through the injected
``sleep`` so tests never wait. Events missed while away are not replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

import docker

from hostwarden.containers.engine import RuntimeState
from hostwarden.containers.event_rules import EventJudge
from hostwarden.containers.event_shapes import ContainerEvent, parse_event
from hostwarden.core.alerts import Alert
from hostwarden.core.clock import Clock
from hostwarden.errors import HostwardenError

LOG = logging.getLogger("hostwarden.events")

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0

Sleep = Callable[[float], Awaitable[None]]


class EventStream(Protocol):
    """Decoded events until the engine or :meth:`close` ends them."""

    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class EventSource(Protocol):
    """Opens a stream (blocking); raises when the engine cannot be reached."""

    def open(self) -> EventStream: ...


class AlertSink(Protocol):
    """Where alerts go: the core's :class:`~hostwarden.core.alerts.AlertOutbox`."""

    async def raise_alert(self, alert: Alert) -> None: ...


class StateReader(Protocol):
    """What the follower asks the engine: :class:`ContainerEngine` (each call under a deadline)."""

    async def runtime_state(self, name: str) -> RuntimeState: ...


class _DockerStream:
    def __init__(self, client: docker.APIClient, stream: Any) -> None:
        self._client = client
        self._stream = stream

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._stream)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed, or SSH (not cancellable)
            self._stream.close()
        with contextlib.suppress(Exception):
            self._client.close()


class DockerEventSource:
    """Container events from a Docker-compatible engine; ``filters`` add to ``type=container``."""

    def __init__(
        self, url: str, timeout_seconds: float, filters: dict[str, Any] | None = None
    ) -> None:
        self._url = url
        self._timeout = max(int(timeout_seconds), 1)
        self._filters = {"type": "container", **(filters or {})}

    def open(self) -> EventStream:
        """Connect, check the engine answers, and start the stream (blocking: call in a thread)."""
        client = docker.APIClient(base_url=self._url, timeout=self._timeout)
        try:
            client.ping()  # the events call itself does not check the answer's status
            stream = client.events(decode=True, filters=self._filters)
        except BaseException:
            client.close()
            raise
        return _DockerStream(client, stream)


class EngineLink:
    """The engine's reachability: one alert when it is lost, one when it is back.

    An engine never reached since the start is only logged (a host without one, or one still
    starting): it is *becoming* unreachable that alerts.
    """

    def __init__(self) -> None:
        self.lost_since: datetime | None = None
        self.ever_reached = False

    def lost(self, now: datetime) -> list[Alert]:
        """A failed attempt to reach it: an alert if it was reached before and is newly lost."""
        if self.lost_since is not None:
            return []
        self.lost_since = now
        if not self.ever_reached:
            return []
        detail = "Container events are not followed until it answers again."
        return [Alert("engine", "Container engine unreachable", now, detail=detail)]

    def reached(self, now: datetime) -> list[Alert]:
        """A stream opened: an alert if it had been lost after a first contact."""
        lost_since, self.lost_since = self.lost_since, None
        first, self.ever_reached = not self.ever_reached, True
        if lost_since is None or first:
            return []
        away = int((now - lost_since).total_seconds())
        detail = f"Container events are followed again; those of the {away} s away are missed."
        return [Alert("engine", "Container engine is back", now, detail=detail)]


class EventFollower:
    """Keeps a stream open, judges each event, raises the alerts; :meth:`run` until stopped."""

    def __init__(
        self,
        alerts: AlertSink,
        clock: Clock,
        source: EventSource,
        judge: EventJudge,
        engine: StateReader | None = None,
        sleep: Sleep | None = None,
        observe: Callable[[ContainerEvent], None] | None = None,
    ) -> None:
        """``observe`` sees each container event once it is handled (tests wait on it)."""
        self._alerts = alerts
        self._clock = clock
        self._source = source
        self._judge = judge
        self._engine = engine
        self._sleep = sleep
        self._observe = observe
        self.link = EngineLink()
        #: Set while a stream is open (tests wait for it before making events).
        self.streaming = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Follow events until ``stop`` is set; an unreachable engine is retried with back-off."""
        sleep = self._sleep or (lambda seconds: _wait(stop, seconds))
        delay = FIRST_RETRY_SECONDS
        while not stop.is_set():
            try:
                stream = await self._open(stop)
            except Exception as exc:  # whatever the SDK raises, the engine is not there
                if self.link.lost_since is None:
                    LOG.warning("container events: engine unreachable (%s)", type(exc).__name__)
                await self._raise(self.link.lost(self._clock.now()))
                await sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                continue
            if stream is None:
                return
            if self.link.lost_since is not None or not self.link.ever_reached:
                LOG.info("container events: following the engine")
            await self._raise(self.link.reached(self._clock.now()))
            self.streaming.set()
            try:
                handled = await self._pump(stream, stop)
            finally:
                self.streaming.clear()
            if handled:
                delay = FIRST_RETRY_SECONDS
            elif not stop.is_set():  # opened and ended at once: do not spin
                await sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)

    async def _open(self, stop: asyncio.Event) -> EventStream | None:
        opening = asyncio.ensure_future(asyncio.to_thread(self._source.open))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({opening, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if opening.done():
            stream = opening.result()
            if not stop.is_set():
                return stream
            stream.close()
            return None
        opening.add_done_callback(_close_when_open)
        return None

    async def _pump(self, stream: EventStream, stop: asyncio.Event) -> int:
        """Handle events until the stream ends or ``stop``; returns how many were handled."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        def post(item: dict[str, Any] | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def read() -> None:
            try:
                for raw in stream:
                    post(raw)
            except Exception as exc:  # a broken stream ends like a closed one
                LOG.info("container events: stream ended (%s)", type(exc).__name__)
            finally:
                post(None)

        async def close_on_stop() -> None:
            await stop.wait()
            stream.close()
            queue.put_nowait(None)

        threading.Thread(target=read, name="hostwarden-events", daemon=True).start()
        stopper = asyncio.create_task(close_on_stop())
        handled = 0
        try:
            while (raw := await queue.get()) is not None and not stop.is_set():
                handled += 1
                await self._handle(raw)
        finally:
            stopper.cancel()
            stream.close()
        return handled

    async def _handle(self, raw: dict[str, Any]) -> None:
        try:
            event = parse_event(raw) if isinstance(raw, dict) else None
            if event is None:
                return
            if not self._judge.is_muted(event):
                event = await self._enrich(event)
                await self._raise(self._judge.judge(event, self._clock.now()))
            if self._observe is not None:
                self._observe(event)
        except Exception as exc:  # one bad event must not end the follower
            LOG.warning("container event not handled: %s", type(exc).__name__)

    async def _enrich(self, event: ContainerEvent) -> ContainerEvent:
        """Ask the engine what the event left out: OOM kill and memory limit, or the health."""
        wanted = (event.action == "die" and not event.oom_reported) or (
            event.action == "health_status" and event.health is None
        )
        if self._engine is None or not wanted:
            return event
        try:
            state = await self._engine.runtime_state(event.container_id)
        except HostwardenError:
            return event  # gone already, or the engine is slow: judge what we have
        return replace(
            event,
            oom_reported=event.oom_reported or state.oom_killed,
            memory_limit=state.memory_limit,
            health=event.health or state.health,
        )

    async def _raise(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            try:
                await self._alerts.raise_alert(alert)
            except Exception as exc:  # the store may be down; the store-loss alert covers it
                LOG.warning("container alert not queued: %s", type(exc).__name__)


def _close_when_open(opening: asyncio.Future[EventStream]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
