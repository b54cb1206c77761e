"""What the console's host and container pages read: the host, the engine, the registries."""

from __future__ import annotations

from dataclasses import dataclass, field

from hostwarden.config import Settings
from hostwarden.containers.actions import host_label
from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.registry import RegistryChecker
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import Clock
from hostwarden.fleet.hub import display_name, local_fleet
from hostwarden.fleet.overview import FleetOverview
from hostwarden.fleet.target import Fleet, ManagedHost
from hostwarden.host.metrics import HostReader


@dataclass
class ConsoleServices:
    """The readers behind /host, /containers and /images, built once per app.

    ``host_name`` (``monitor.host_label``) names this host in pages and questions. ``fleet`` is
    every host the pages may be about; without one, this host alone (see :meth:`hosts`).
    """

    host: HostReader
    engine: ContainerEngine
    registry: RegistryChecker
    containers: ContainerSettings
    host_name: str
    fleet: Fleet | None = None
    overview: FleetOverview | None = field(default=None, repr=False)

    def hosts(self) -> Fleet:
        """The fleet; without one given, this host alone, named from ``host_name``, built on
        first use and kept."""
        if self.fleet is None:
            self.fleet = local_fleet(self.host_name, self.host, self.engine, self.registry)
        return self.fleet

    def title(self, host: ManagedHost) -> str:
        """What pages and questions call ``host`` (``host_name`` for this one)."""
        return display_name(self.hosts(), host, self.host_name)

    def host_overview(self, clock: Clock) -> FleetOverview:
        """The ``/hosts`` reader, which remembers when each host last answered."""
        if self.overview is None:
            self.overview = FleetOverview(clock)
        return self.overview

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        host: HostReader | None = None,
        engine: ContainerEngine | None = None,
        registry: RegistryChecker | None = None,
    ) -> ConsoleServices:
        """Services from ``settings``; any of them may be replaced (tests, benchmarks)."""
        return cls(
            host=host or HostReader(),
            engine=engine or ContainerEngine(settings.containers),
            registry=registry or RegistryChecker(settings.containers),
            containers=settings.containers,
            host_name=host_label(settings.monitor),
        )

    async def close(self) -> None:
        """Close the engine's connection (if one was opened), and every other host's."""
        await self.engine.close()
        if self.fleet is not None:
            await self.fleet.close()
