"""Fleets of fake hosts for the hub's tests: each host its own fake engine and fixed readings.

``fake_host`` is a :class:`~hostwarden.fleet.target.LocalHost` over a :class:`FixedHost` and a
:class:`FakeEngine` (three containers), so it answers as the real thing does; :class:`DownHost`
is a host that does not answer (every call raises :class:`~hostwarden.errors.Unavailable`, as an
agent client does for an agent it cannot reach) until ``down`` is cleared.
"""

from __future__ import annotations

from hostwarden.containers.engine import ImageSummary
from hostwarden.containers.registry import ImageUpdate, RegistryChecker
from hostwarden.containers.settings import ContainerSettings
from hostwarden.errors import Unavailable
from hostwarden.fleet.target import TOP_PROCESSES, Fleet, HostReport, LocalHost, ManagedHost
from tests.web.fakes import FakeEngine, FixedHost, sample_engine

NO_REGISTRY = ContainerSettings(docker_url="unix:///nonexistent/fake.sock")


def fake_host(name: str, engine: FakeEngine | None = None) -> LocalHost:
    """A reachable host called ``name`` (its readings say hostname ``name``)."""
    return LocalHost(
        name, FixedHost(hostname=name), engine or sample_engine(), RegistryChecker(NO_REGISTRY)
    )


class DownHost:
    """A host that answers only while ``down`` is false (then as :func:`fake_host` would)."""

    def __init__(self, name: str, down: bool = True) -> None:
        self.up = fake_host(name)
        self.down = down

    @property
    def name(self) -> str:
        return self.up.name

    @property
    def engine(self) -> FakeEngine:
        engine = self.up.engine
        assert isinstance(engine, FakeEngine)
        engine.down = self.down
        return engine

    def _check(self) -> None:
        if self.down:
            raise Unavailable(f"the agent on {self.name} does not answer")

    async def report(self, top: int = TOP_PROCESSES) -> HostReport:
        self._check()
        return await self.up.report(top)

    async def image_updates(self, images: list[ImageSummary]) -> list[ImageUpdate]:
        self._check()
        return []

    async def close(self) -> None:
        return None


def fleet_of(*names: str, down: tuple[str, ...] = ()) -> Fleet:
    """A fleet of fake hosts (those in ``down`` do not answer); the first is the default."""
    hosts: list[ManagedHost] = [DownHost(n) if n in down else fake_host(n) for n in names]
    return Fleet(hosts)
