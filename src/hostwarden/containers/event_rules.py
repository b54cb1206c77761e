"""Which container events deserve an alert: a pure function of (event, time, remembered state).

Conditions, each alerted once per container until it clears:

- ``exited`` — died with a non-zero exit code, not stopped by anyone;
- ``oom`` — killed for memory (the engine says so, or exit 137 with a memory limit and no stop
  or kill asked: podman 4 reports neither an ``oom`` event nor ``OOMKilled``);
- ``stopped`` — ended with exit code 0, or after a ``kill`` or ``stop``, not through hostwarden
  (podman sends no ``stop`` event when a process ends on SIGTERM, so an exit 0 counts too);
- ``unhealthy`` — the health check turned unhealthy;
- ``restart-loop`` — ``loop_count`` restarts (a start after a die hostwarden did not cause)
  within ``loop_window``, counted by the injected clock.

``unhealthy`` clears when it is healthy again, ``restart-loop`` when a restart comes after a
quiet window; ``exited``, ``oom`` and ``stopped`` once the container has then run for
``loop_window`` (so a crash loop is one failure, not one per crash). A start through hostwarden
clears them all. Hostwarden's own stops and restarts
(:class:`~hostwarden.containers.expected.ExpectedActions`) alert nothing, and a muted container
(label ``hostwarden.alerts=false`` or a name in ``monitor.muted_containers``) never alerts.
"""

from __future__ import annotations

import signal
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from hostwarden.containers.event_shapes import MUTE_LABEL, ContainerEvent
from hostwarden.containers.expected import ExpectedActions
from hostwarden.core.alerts import Alert

if TYPE_CHECKING:
    from hostwarden.host.thresholds import MonitorSettings

KIND = "container"
PENDING = timedelta(minutes=5)  # how long a kill, stop or restart waits for its die
MAX_WATCHED = 10_000
_STOPPING_SIGNALS = frozenset({"2", "3", "9", "15", "INT", "QUIT", "KILL", "TERM"})


class Condition(StrEnum):
    """What can be wrong with a container; each alerts once until it clears."""

    EXITED = "exited"
    OOM = "oom"
    STOPPED = "stopped"
    UNHEALTHY = "unhealthy"
    LOOP = "restart-loop"


# The conditions of a container that went down; one alert each until it has run a while.
_DOWN = frozenset({Condition.EXITED, Condition.OOM, Condition.STOPPED})


@dataclass(frozen=True, slots=True)
class EventRules:
    """The settings the rules use."""

    loop_count: int = 3
    loop_window: timedelta = timedelta(minutes=10)
    muted: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, monitor: MonitorSettings) -> EventRules:
        """``restart_loop_count``, ``restart_loop_minutes`` and ``muted_containers``."""
        return cls(
            monitor.restart_loop_count,
            timedelta(minutes=monitor.restart_loop_minutes),
            frozenset(monitor.muted_containers),
        )


@dataclass
class _Watch:
    """What is remembered about one container."""

    restarts: deque[datetime]
    active: set[Condition] = field(default_factory=set)
    down: bool = False
    down_expected: bool = False
    die_alerted: bool = False
    last_action: str = ""
    before_last: str = ""
    last_start: datetime | None = None
    pending: str | None = None  # "stop" or "restart" asked from outside, awaiting the die
    stop_asked: bool = False  # the last die followed a stop or kill from outside
    pending_at: datetime | None = None
    oom_at: datetime | None = None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _exit_words(code: int | None) -> str:
    if code is None:
        return "an unknown exit code"
    if code > 128:
        return f"exit code {code} (killed by {_signal_name(code - 128)})"
    return f"exit code {code}"


class EventJudge:
    """Turns events into alerts; keeps per-container state between calls."""

    def __init__(self, rules: EventRules, expected: ExpectedActions | None = None) -> None:
        self._rules = rules
        self._expected = expected if expected is not None else ExpectedActions()
        self._watched: dict[str, _Watch] = {}

    def is_muted(self, event: ContainerEvent) -> bool:
        """Label ``hostwarden.alerts=false`` or a name in ``monitor.muted_containers``."""
        return event.muted_by_label or event.name in self._rules.muted

    def judge(self, event: ContainerEvent, now: datetime) -> list[Alert]:
        """The alerts ``event`` calls for at ``now`` (usually none)."""
        if self.is_muted(event):
            return []
        if event.action in ("destroy", "remove"):
            self._watched.pop(event.container_id, None)
            return []
        watch = self._watch(event.container_id)
        try:
            conditions = self._conditions(watch, event, now)
            return [self._alert(event, now, c, watch) for c in conditions]
        finally:
            watch.before_last, watch.last_action = watch.last_action, event.action

    def _watch(self, container_id: str) -> _Watch:
        watch = self._watched.get(container_id)
        if watch is None:
            if len(self._watched) >= MAX_WATCHED:
                self._watched.pop(next(iter(self._watched)))
            watch = self._watched[container_id] = _Watch(deque(maxlen=self._rules.loop_count))
        return watch

    def _conditions(self, watch: _Watch, event: ContainerEvent, now: datetime) -> list[Condition]:
        action = event.action
        if action == "oom":
            watch.oom_at = now
        elif action in ("kill", "stop", "restart"):
            return self._asked(watch, event, now)
        elif action == "die":
            return self._died(watch, event, now)
        elif action == "start":
            return self._started(watch, event, now)
        elif action == "health_status":
            if event.health == "healthy":
                watch.active.discard(Condition.UNHEALTHY)
            elif event.health == "unhealthy":
                return self._raise(watch, Condition.UNHEALTHY)
        return []

    def _asked(self, watch: _Watch, event: ContainerEvent, now: datetime) -> list[Condition]:
        """A kill, stop or restart: hostwarden's, or someone else's."""
        if self._expected.explains_stop(event.container_id):
            return []
        if event.action == "restart":
            # podman says "restart" first; Docker last (after its kill, die, stop, start), and
            # podman after a restart policy's die: those two are mere notices.
            notice = watch.down or (watch.last_action == "start" and watch.before_last != "init")
            if not notice:
                watch.pending, watch.pending_at = "restart", now
            return []
        if event.signal is not None and event.signal.upper().removeprefix("SIG") not in (
            _STOPPING_SIGNALS
        ):
            return []  # e.g. SIGHUP to reload: not a stop
        if watch.down:  # Docker's "stop" comes after the "die"
            if event.action == "stop" and not (watch.down_expected or watch.die_alerted):
                watch.die_alerted = watch.stop_asked = True
                return self._raise(watch, Condition.STOPPED)
            return []
        if watch.pending != "restart":  # Docker's restart: kill, die, stop, start, restart
            watch.pending, watch.pending_at = "stop", now
        return []

    def _died(self, watch: _Watch, event: ContainerEvent, now: datetime) -> list[Condition]:
        pending = watch.pending if watch.pending_at and now - watch.pending_at <= PENDING else None
        oom_seen = watch.oom_at is not None and now - watch.oom_at <= PENDING
        watch.down, watch.die_alerted = True, False
        watch.stop_asked = pending == "stop"
        watch.pending = watch.pending_at = watch.oom_at = None
        watch.down_expected = self._expected.take_die(event.container_id)
        if watch.down_expected:
            return []
        if watch.last_start is not None and now - watch.last_start >= self._rules.loop_window:
            watch.active -= _DOWN  # it ran well for a while
        condition = self._classify(event, pending, oom_seen)
        if condition is None:
            return []
        watch.die_alerted = True
        return self._raise(watch, condition)

    @staticmethod
    def _classify(event: ContainerEvent, pending: str | None, oom_seen: bool) -> Condition | None:
        if event.oom_reported or oom_seen:
            return Condition.OOM
        if pending == "restart":
            return None
        if pending == "stop":
            return Condition.STOPPED
        if event.exit_code == 137 and (event.memory_limit or 0) > 0:
            return Condition.OOM
        if event.exit_code != 0:
            return Condition.EXITED
        # Exit code 0 and no stop seen: podman sends no stop event for a stop from outside
        # whose process ends on SIGTERM, so this is a stop too (or a one-off job: mute it).
        return Condition.STOPPED

    def _started(self, watch: _Watch, event: ContainerEvent, now: datetime) -> list[Condition]:
        raised: list[Condition] = []
        if self._expected.take_start(event.container_id):
            watch.active.clear()
            watch.restarts.clear()
        elif watch.down and not watch.down_expected:
            raised = self._restarted(watch, now)
        watch.down = watch.down_expected = False
        watch.last_start = now
        watch.pending = watch.pending_at = None
        return raised

    def _restarted(self, watch: _Watch, now: datetime) -> list[Condition]:
        while watch.restarts and now - watch.restarts[0] >= self._rules.loop_window:
            watch.restarts.popleft()
        if not watch.restarts:
            watch.active.discard(Condition.LOOP)  # quiet for a whole window: a new story
        watch.restarts.append(now)
        if len(watch.restarts) >= self._rules.loop_count:
            return self._raise(watch, Condition.LOOP)
        return []

    @staticmethod
    def _raise(watch: _Watch, condition: Condition) -> list[Condition]:
        if condition in watch.active:
            return []
        watch.active.add(condition)
        return [condition]

    def _alert(
        self, event: ContainerEvent, now: datetime, condition: Condition, watch: _Watch
    ) -> Alert:
        title, detail = self._words(event, condition, watch.stop_asked)
        return Alert(KIND, title, now, detail=f"{detail}\nImage: {event.image}")

    def _words(
        self, event: ContainerEvent, condition: Condition, stop_asked: bool
    ) -> tuple[str, str]:
        name = f"Container {event.name}"
        if condition is Condition.EXITED:
            return f"{name} exited", f"It stopped with {_exit_words(event.exit_code)}."
        if condition is Condition.OOM:
            if event.oom_reported:
                return f"{name} killed: out of memory", "The engine reports an out-of-memory kill."
            if event.exit_code != 137:  # Docker's oom event came before this die
                ended = _exit_words(event.exit_code)
                return f"{name} killed: out of memory", f"It ended with {ended}."
            limit = (event.memory_limit or 0) / 1024 / 1024
            return f"{name} killed: out of memory", (
                f"It ended with {_exit_words(137)} under a memory limit of {limit:.1f} MiB, and no "
                "one asked to stop it: most likely the out-of-memory killer."
            )
        if condition is Condition.STOPPED:
            ended = _exit_words(event.exit_code)
            if stop_asked:
                return f"{name} stopped outside hostwarden", (
                    f"Someone stopped or killed it directly; it ended with {ended}."
                )
            return f"{name} stopped outside hostwarden", (
                f"It ended with {ended}, not through hostwarden: stopped from outside, or its "
                f"process finished (label a one-off job {MUTE_LABEL}=false)."
            )
        if condition is Condition.UNHEALTHY:
            return f"{name} is unhealthy", "Its health check fails."
        minutes = self._rules.loop_window.total_seconds() / 60
        return f"{name} is in a restart loop", (
            f"{self._rules.loop_count} restarts within {minutes:g} min; no further alert "
            "while it keeps restarting."
        )
