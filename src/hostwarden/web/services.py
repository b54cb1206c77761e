"""What the console's host and container pages read: the host, the engine, the registries."""

from __future__ import annotations

from dataclasses import dataclass

from hostwarden.config import Settings
from hostwarden.containers.actions import host_label
from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.registry import RegistryChecker
from hostwarden.containers.settings import ContainerSettings
from hostwarden.host.metrics import HostReader


@dataclass
class ConsoleServices:
    """The readers behind /host, /containers and /images, built once per app.

    ``host_name`` names this host in confirmation questions and ``container.action`` events.
    """

    host: HostReader
    engine: ContainerEngine
    registry: RegistryChecker
    containers: ContainerSettings
    host_name: str

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
        """Close the engine's connection (if one was opened)."""
        await self.engine.close()
