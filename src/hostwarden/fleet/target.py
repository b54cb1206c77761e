"""A host the hub acts on, this one or an agent's: one protocol, so front ends never care which.

:class:`ManagedHost` is what the bot's views, the console's pages and
:func:`hostwarden.containers.actions.manage_container` call. :class:`LocalHost` wraps this
machine's psutil reader, container engine and registry checker; the agent client
(``hostwarden.fleet.remote``) implements the same protocol over mutual TLS. :class:`Fleet` names
them; the name is what users type (``/restart web@db1``) and what audit events record.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from hostwarden.containers.engine import (
    ContainerDetails,
    ContainerEngine,
    ContainerSummary,
    ImageSummary,
)
from hostwarden.containers.registry import ImageUpdate, RegistryChecker
from hostwarden.errors import InvalidInput, NotFound
from hostwarden.host.metrics import HostReader, HostStatus, InterfaceReading, ProcessReading

TOP_PROCESSES = 8
_HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")


def check_host_name(name: str) -> str:
    """``name`` if it is a valid host name (1-32 of ``a-z0-9-``, no leading/trailing ``-``)."""
    if not _HOST_NAME.fullmatch(name):
        raise InvalidInput(
            "host names are 1-32 lowercase letters, digits or '-', not starting or ending with '-'"
        )
    return name


@dataclass(frozen=True, slots=True)
class HostReport:
    """One reading of a host: what ``/status``, the console's host page and ``/hosts`` show."""

    status: HostStatus
    network: tuple[InterfaceReading, ...]
    by_cpu: tuple[ProcessReading, ...]
    by_memory: tuple[ProcessReading, ...]


class ContainerReader(Protocol):
    """Reads a host's containers and images."""

    async def containers(self) -> list[ContainerSummary]: ...
    async def details(self, name: str) -> ContainerDetails: ...
    async def logs(self, name: str, lines: int) -> str: ...
    async def images(self) -> list[ImageSummary]: ...


class ContainerManager(Protocol):
    """Starts, stops and restarts a host's containers (guarded and audited by the caller)."""

    async def start(self, name: str) -> ContainerSummary: ...
    async def stop(self, name: str) -> ContainerSummary: ...
    async def restart(self, name: str) -> ContainerSummary: ...


class ContainerControl(ContainerReader, ContainerManager, Protocol):
    """Both: what a host's ``engine`` is."""


class ManagedHost(Protocol):
    """A host the hub reads and acts on; errors are :class:`~hostwarden.errors.HostwardenError`."""

    @property
    def name(self) -> str: ...

    @property
    def engine(self) -> ContainerControl: ...

    async def report(self, top: int = TOP_PROCESSES) -> HostReport: ...

    async def image_updates(self, images: list[ImageSummary]) -> list[ImageUpdate]: ...

    async def close(self) -> None: ...


def read_report(reader: HostReader, top: int = TOP_PROCESSES) -> HostReport:
    """Read this host (blocking: psutil and a short CPU sample; run it in a thread)."""
    by_cpu, by_memory = reader.processes(top)
    return HostReport(reader.status(), reader.network(), tuple(by_cpu), tuple(by_memory))


class LocalHost:
    """This machine: psutil, the container engine, the registry checker."""

    def __init__(
        self, name: str, reader: HostReader, engine: ContainerEngine, registry: RegistryChecker
    ) -> None:
        self._name = check_host_name(name)
        self.reader = reader
        self._engine = engine
        self.registry = registry

    @property
    def name(self) -> str:
        return self._name

    @property
    def engine(self) -> ContainerEngine:
        return self._engine

    async def report(self, top: int = TOP_PROCESSES) -> HostReport:
        return await asyncio.to_thread(read_report, self.reader, top)

    async def image_updates(self, images: list[ImageSummary]) -> list[ImageUpdate]:
        return await self.registry.check(images)

    async def close(self) -> None:
        await self._engine.close()


class Fleet:
    """The hosts the hub knows, by name; ``default`` is the one acted on when none is named."""

    def __init__(self, hosts: Iterable[ManagedHost], default: str | None = None) -> None:
        self._hosts = {host.name: host for host in hosts}
        if not self._hosts:
            raise InvalidInput("a fleet needs at least one host")
        self.default = default if default is not None else next(iter(self._hosts))
        if self.default not in self._hosts:
            raise InvalidInput(f"no host named {self.default!r}")

    def names(self) -> tuple[str, ...]:
        """Every host's name, in the order they were given."""
        return tuple(self._hosts)

    def get(self, name: str | None = None) -> ManagedHost:
        """The host called ``name`` (the default when ``None``); :class:`NotFound` otherwise."""
        host = self._hosts.get(self.default if name is None else name)
        if host is None:
            raise NotFound("no such host")
        return host

    def add(self, host: ManagedHost) -> None:
        """Add or replace ``host`` (an agent enrolled or renewed while running)."""
        self._hosts[host.name] = host

    def remove(self, name: str) -> ManagedHost | None:
        """Forget ``name``; the default host cannot be removed."""
        if name == self.default:
            raise InvalidInput("the hub's own host cannot be removed")
        return self._hosts.pop(name, None)

    async def close(self) -> None:
        """Close every host's connections."""
        for host in self._hosts.values():
            await host.close()
