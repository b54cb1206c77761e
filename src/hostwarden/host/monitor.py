"""The background monitor: host thresholds and newly appeared containers and images, as alerts.

It only raises alerts through the core's outbox; delivery (Telegram, Apprise) is someone else's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.follower import AlertSink
from hostwarden.core.alerts import Alert
from hostwarden.core.clock import Clock
from hostwarden.errors import HostwardenError
from hostwarden.host.metrics import HostReader
from hostwarden.host.thresholds import (
    AppearanceWatcher,
    Crossing,
    MonitorSettings,
    ThresholdEvent,
    ThresholdMonitor,
)

LOG = logging.getLogger("hostwarden.monitor")

LABELS = {"cpu": "CPU", "memory": "Memory", "disk": "Disk", "temperature": "Temperature"}


def host_values(host: HostReader) -> dict[str, float]:
    """Threshold inputs: ``cpu``, ``memory``, ``disk:<mount>``, ``temperature:<label>``."""
    values = {"cpu": host.cpu().percent, "memory": host.memory().percent}
    for disk in host.disks():
        values[f"disk:{disk.mountpoint}"] = disk.percent
    for sensor in host.sensors():
        key = f"temperature:{sensor.chip}/{sensor.label}"
        values[key] = max(values.get(key, sensor.celsius), sensor.celsius)
    return values


def describe(event: ThresholdEvent) -> tuple[str, str]:
    """The alert title and detail for a crossing."""
    kind, _, where = event.metric.partition(":")
    name = LABELS.get(kind, kind) + (f" {where}" if where else "")
    unit = " °C" if kind == "temperature" else "%"
    if event.crossing is Crossing.ABOVE:
        return f"{name} above {event.line:g}{unit}", f"Now {event.value:.1f}{unit}."
    return f"{name} back to normal", f"Now {event.value:.1f}{unit} (line {event.line:g}{unit})."


class HostMonitor:
    """One :meth:`check` reads everything once and raises the alerts it calls for."""

    def __init__(
        self,
        alerts: AlertSink,
        clock: Clock,
        settings: MonitorSettings,
        host: HostReader,
        engine: ContainerEngine | None = None,
    ) -> None:
        self._alerts = alerts
        self._clock = clock
        self._settings = settings
        self._host = host
        self._engine = engine
        self._thresholds = ThresholdMonitor.from_settings(settings)
        self._containers = AppearanceWatcher()
        self._images = AppearanceWatcher()
        self._engine_down = False

    async def check(self, values: dict[str, float] | None = None) -> list[Alert]:
        """Run one round; ``values`` replaces the host reading (tests)."""
        if values is None:
            values = await asyncio.to_thread(host_values, self._host)
        raised = []
        for event in self._thresholds.observe(values):
            title, detail = describe(event)
            raised.append(Alert("threshold", title, self._clock.now(), detail=detail))
        if self._engine is not None and self._settings.watch_containers:
            raised += await self._watch_engine(self._engine)
        for alert in raised:
            await self._alerts.raise_alert(alert)
        return raised

    async def _watch_engine(self, engine: ContainerEngine) -> list[Alert]:
        try:
            containers = await engine.containers()
            images = await engine.images()
        except HostwardenError as exc:
            if not self._engine_down:
                LOG.warning("monitor: %s", exc)
            self._engine_down = True
            return []
        self._engine_down = False
        now = self._clock.now()
        new_names = set(self._containers.observe(c.name for c in containers))
        found = [
            Alert("security", "New container appeared", now, detail=f"{c.name} ({c.image})")
            for c in containers
            if c.name in new_names
        ]
        new_images = self._images.observe(
            tag for image in images for tag in (image.tags or (image.short_id,))
        )
        found += [Alert("security", "New image appeared", now, detail=name) for name in new_images]
        return found

    async def run(self, stop: asyncio.Event) -> None:
        """Check every ``interval_seconds`` until ``stop`` is set; a failing round is logged."""
        while not stop.is_set():
            try:
                await self.check()
            except Exception as exc:  # the monitor must outlive a passing failure
                LOG.warning("monitor round failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.interval_seconds)
