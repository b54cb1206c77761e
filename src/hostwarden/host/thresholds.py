"""Thresholds with hysteresis, and a watcher for things that appear.

A value that crosses its line raises one event; it must fall ``hysteresis`` below the line
before it can raise another, so a value hovering at the line does not flood the admin chat.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hostwarden.core.settings import DAY_SECONDS

MAX_HOST_LABEL = 64
# No control characters: the label heads every alert and view.
_LABEL = r"^[^\x00-\x1f\x7f]+$"
ContainerName = Annotated[str, Field(min_length=1, max_length=128)]


def default_host_label() -> str:
    """The machine's hostname, cut to :data:`MAX_HOST_LABEL` (``host`` if it has none)."""
    name = "".join(c for c in socket.gethostname() if c.isprintable()).strip()
    return name[:MAX_HOST_LABEL] or "host"


class MonitorSettings(BaseModel):
    """What the background monitor watches and where its lines are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    interval_seconds: int = Field(60, ge=5, le=DAY_SECONDS, description="5 seconds to 1 day")
    cpu_percent: float = Field(90, gt=0, le=100)
    memory_percent: float = Field(90, gt=0, le=100)
    disk_percent: float = Field(90, gt=0, le=100)
    temperature_celsius: float = Field(85, gt=0, le=200, description="above 0 up to 200")
    hysteresis: float = Field(
        5, ge=0, le=100, description="how far below a line a value must fall to re-arm (0-100)"
    )
    watch_containers: bool = True
    host_label: str = Field(
        default_factory=default_host_label,
        min_length=1,
        max_length=MAX_HOST_LABEL,
        pattern=_LABEL,
        description="names this host in every alert and view (default: the hostname)",
    )
    restart_loop_count: int = Field(
        3, ge=1, le=1000, description="restarts within restart_loop_minutes that make a loop"
    )
    restart_loop_minutes: int = Field(10, ge=1, le=1440, description="1 minute to 1 day")
    muted_containers: list[ContainerName] = Field(
        default_factory=list,
        max_length=1000,
        description="container names never alerted on (or label hostwarden.alerts=false)",
    )


class Crossing(StrEnum):
    ABOVE = "above"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class ThresholdEvent:
    metric: str
    crossing: Crossing
    value: float
    line: float


class ThresholdMonitor:
    """Remembers which metrics are over their line; :meth:`observe` reports only changes."""

    def __init__(self, lines: Mapping[str, float], hysteresis: float) -> None:
        self._lines = dict(lines)
        self._hysteresis = hysteresis
        self._over: set[str] = set()

    @classmethod
    def from_settings(cls, settings: MonitorSettings) -> ThresholdMonitor:
        return cls(
            {
                "cpu": settings.cpu_percent,
                "memory": settings.memory_percent,
                "disk": settings.disk_percent,
                "temperature": settings.temperature_celsius,
            },
            settings.hysteresis,
        )

    def line_for(self, metric: str) -> float | None:
        """The line of ``metric``; ``disk:/var`` uses the ``disk`` line."""
        return self._lines.get(metric.split(":", 1)[0])

    def observe(self, values: Mapping[str, float]) -> list[ThresholdEvent]:
        """Feed current values; get the crossings since the last call."""
        events = []
        for metric, value in values.items():
            line = self.line_for(metric)
            if line is None:
                continue
            if metric not in self._over and value >= line:
                self._over.add(metric)
                events.append(ThresholdEvent(metric, Crossing.ABOVE, value, line))
            elif metric in self._over and value <= line - self._hysteresis:
                self._over.discard(metric)
                events.append(ThresholdEvent(metric, Crossing.RECOVERED, value, line))
        return events


class AppearanceWatcher:
    """Reports names that were not there before. The first look sets the baseline silently."""

    def __init__(self) -> None:
        self._known: set[str] | None = None

    def observe(self, names: Iterable[str]) -> list[str]:
        current = set(names)
        if self._known is None:
            self._known = current
            return []
        new = sorted(current - self._known)
        self._known |= current
        return new
