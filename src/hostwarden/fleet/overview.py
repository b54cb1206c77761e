"""``/hosts``: every host of the fleet read at once, each within its own deadline.

One :class:`HostRow` per host: reachable or not (with the one-line reason and when the hub last
heard from it), CPU, memory, the fullest disk, and containers running / unhealthy. Hosts are read
concurrently, so one slow agent costs its timeout, not the sum. The hub remembers when each host
last answered (in memory: since this process started), for the rows and pages of hosts that are
down now; :class:`~hostwarden.fleet.hubside.HubAgents` adds what the store recorded (the bot's
poller writes every agent's last contact there, so the console knows it too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hostwarden.containers.engine import ContainerSummary
from hostwarden.core.clock import Clock
from hostwarden.errors import HostwardenError
from hostwarden.fleet.target import Fleet, ManagedHost

PROBLEM_LENGTH = 200


@dataclass(frozen=True, slots=True)
class HostRow:
    """One host in the overview; figures are ``None`` when the host did not give them."""

    name: str
    reachable: bool
    problem: str = ""
    last_seen: datetime | None = None
    cpu_percent: float | None = None
    memory_percent: float | None = None
    disk_percent: float | None = None
    disk_mount: str = ""
    containers: int | None = None
    running: int | None = None
    unhealthy: int | None = None


class FleetOverview:
    """Reads hosts for the overview and remembers when each last answered."""

    def __init__(self, clock: Clock, timeout_seconds: float = 5.0) -> None:
        self._clock = clock
        self.timeout_seconds = timeout_seconds
        self._seen: dict[str, datetime] = {}

    def saw(self, name: str) -> None:
        """``name`` answered just now."""
        self._seen[name] = self._clock.now()

    def note(self, name: str, at: datetime) -> None:
        """``name`` answered at ``at`` (recorded by another process, or earlier)."""
        known = self._seen.get(name)
        if known is None or at > known:
            self._seen[name] = at

    def last_seen(self, name: str) -> datetime | None:
        """When ``name`` last answered this process, if it ever did."""
        return self._seen.get(name)

    async def read(self, fleet: Fleet, names: Iterable[str] | None = None) -> list[HostRow]:
        """A row for each of ``names`` (every host by default), read concurrently."""
        chosen = [name for name in (fleet.names() if names is None else names)]
        return list(await asyncio.gather(*(self._row(fleet.get(name)) for name in chosen)))

    async def _row(self, host: ManagedHost) -> HostRow:
        try:
            async with asyncio.timeout(self.timeout_seconds):
                # Both at once: the report waits for the host's CPU sample, the list for its
                # engine. The list carries each container's health: no request per container.
                report, containers = await asyncio.gather(
                    host.report(top=0), _containers(host), return_exceptions=True
                )
                if isinstance(report, BaseException):
                    raise report
                if isinstance(containers, BaseException):
                    raise containers
                self.saw(host.name)
        except TimeoutError:
            return self._down(host.name, f"no answer within {self.timeout_seconds:g} s")
        except HostwardenError as exc:
            return self._down(host.name, str(exc))
        status = report.status
        fullest = max(status.disks, key=lambda d: d.percent, default=None)
        return HostRow(
            host.name,
            True,
            last_seen=self.last_seen(host.name),
            cpu_percent=status.cpu.percent,
            memory_percent=status.memory.percent,
            disk_percent=fullest.percent if fullest else None,
            disk_mount=fullest.mountpoint if fullest else "",
            containers=None if containers is None else len(containers),
            running=None if containers is None else sum(c.state == "running" for c in containers),
            unhealthy=None if containers is None else sum(_sick(c) for c in containers),
        )

    def _down(self, name: str, problem: str) -> HostRow:
        return HostRow(name, False, problem[:PROBLEM_LENGTH], self.last_seen(name))


async def _containers(host: ManagedHost) -> list[ContainerSummary] | None:
    """The host's containers; ``None`` if its engine did not answer (the host itself may)."""
    try:
        return await host.engine.containers()
    except HostwardenError:
        return None


def _sick(container: ContainerSummary) -> bool:
    """Running and its health check says ``unhealthy``."""
    return container.state == "running" and container.health == "unhealthy"
