"""Stand-ins for the host and the container engine, for page tests that need known figures.

``FakeEngine`` keeps containers in a dict and answers like :class:`ContainerEngine` (names
checked, unknown ones :class:`NotFound`, logs cleaned by the same ``clean_log``, environment
values hidden unless allow-listed); ``FixedHost`` returns fixed readings. Real engines and real
hosts are tested with podman and psutil elsewhere (test_containers_podman.py, test_browser.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from hostwarden.containers.engine import (
    HIDDEN,
    ContainerDetails,
    ContainerEngine,
    ContainerSummary,
    ImageSummary,
    check_container_name,
)
from hostwarden.containers.redact import clean_log
from hostwarden.containers.settings import ContainerSettings
from hostwarden.errors import NotFound, Unavailable
from hostwarden.host.metrics import (
    CpuReading,
    DiskReading,
    HostReader,
    HostStatus,
    InterfaceReading,
    MemoryReading,
    ProcessReading,
    SensorReading,
)

DOWN = "the container engine at unix:///nonexistent/fake.sock is unreachable"
STARTED = datetime(2025, 12, 31, 21, 0, tzinfo=UTC)  # 3 h before ManualClock's start


@dataclass
class FakeContainer:
    name: str
    image: str = "nginx:1.27"
    state: str = "running"
    health: str | None = None
    restarts: int = 0
    env: tuple[tuple[str, str], ...] = (("TZ", "UTC"), ("API_TOKEN", "s3cr3t-value"))
    log: str = ""


@dataclass
class FakeEngine(ContainerEngine):
    """Containers in memory; ``down`` makes every call fail as an unreachable engine does."""

    containers_by_name: dict[str, FakeContainer] = field(default_factory=dict)
    images_list: list[ImageSummary] = field(default_factory=list)
    down: bool = False
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(ContainerSettings(docker_url="unix:///nonexistent/fake.sock"))

    def add(self, *containers: FakeContainer) -> FakeEngine:
        for container in containers:
            self.containers_by_name[container.name] = container
        return self

    def _get(self, name: str) -> FakeContainer:
        self.calls.append(name)
        if self.down:
            raise Unavailable(DOWN)
        check_container_name(name)
        try:
            return self.containers_by_name[name]
        except KeyError:
            raise NotFound("no such container or image") from None

    @staticmethod
    def _summary(c: FakeContainer) -> ContainerSummary:
        started = STARTED if c.state == "running" else None
        return ContainerSummary(c.name, c.name[:6] + "0" * 6, c.image, c.state, started, c.health)

    async def containers(self) -> list[ContainerSummary]:
        if self.down:
            raise Unavailable(DOWN)
        listed = sorted(self.containers_by_name.values(), key=lambda c: c.name)
        return [self._summary(c) for c in listed]

    async def details(self, name: str) -> ContainerDetails:
        c = self._get(name)
        allow = {"PATH", "TZ", "LANG", "LC_ALL", "HOME", "HOSTNAME", "TERM"}
        env = tuple((k, v if k in allow else HIDDEN) for k, v in c.env)
        return ContainerDetails(
            self._summary(c), STARTED, c.restarts, None if c.state == "running" else 0, c.health,
            "nginx --password=hunter2", ("0.0.0.0:8080 -> 80/tcp",),
            ("/srv/www -> /usr/share/nginx",), ("bridge",), env,
        )  # fmt: skip

    async def logs(self, name: str, lines: int) -> str:
        c = self._get(name)
        kept = c.log.rstrip("\n").split("\n")[-max(1, min(lines, 300)) :] if c.log else []
        return clean_log("\n".join(kept) + ("\n" if kept else ""))

    async def _set(self, name: str, state: str, restart: bool = False) -> ContainerSummary:
        c = self._get(name)
        c.state = state
        c.restarts += int(restart)
        return self._summary(c)

    async def start(self, name: str) -> ContainerSummary:
        return await self._set(name, "running")

    async def stop(self, name: str) -> ContainerSummary:
        return await self._set(name, "exited")

    async def restart(self, name: str) -> ContainerSummary:
        return await self._set(name, "running", restart=True)

    async def images(self) -> list[ImageSummary]:
        if self.down:
            raise Unavailable(DOWN)
        return list(self.images_list)

    async def close(self) -> None:
        return None


def sample_engine() -> FakeEngine:
    """Three containers: a healthy web server that restarted twice, a worker, a stopped job."""
    log = "".join(f"\x1b[32mline {n}\x1b[0m request ok\n" for n in range(1, 121))
    log += "db password=hunter2 user=app\n"
    return FakeEngine().add(
        FakeContainer("web", health="healthy", restarts=2, log=log),
        FakeContainer("worker", image="python:3.11-slim", log="tick\n"),
        FakeContainer("backup-job", image="restic/restic:0.17", state="exited"),
    )


@dataclass
class FixedHost(HostReader):
    """Known readings: no psutil, no CPU sampling."""

    hostname: str = "test-host-01"

    def __post_init__(self) -> None:
        super().__init__(cpu_interval=0)

    def status(self) -> HostStatus:
        cpu = CpuReading(42.5, (40.0, 45.0), 2, 1, (0.61, 0.52, 0.40), 2400.0)
        memory = MemoryReading(8 << 30, 3 << 30, 5 << 30, 37.5, 2 << 30, 0, 0.0)
        disks = (DiskReading("/", "/dev/sda1", "ext4", 100 << 30, 91 << 30, 9 << 30, 91.0),)
        sensors = (SensorReading("coretemp", "Package id 0", 55.0, 85.0),)
        return HostStatus(self.hostname, cpu, memory, disks, 93784.0, sensors)

    def network(self) -> tuple[InterfaceReading, ...]:
        return (InterfaceReading("eth0", 5 << 20, 7 << 30, 0, 3, True, ("192.0.2.10",)),)

    def processes(self, top: int = 10) -> tuple[list[ProcessReading], list[ProcessReading]]:
        rows = [ProcessReading(100 + n, f"proc-{n}", "root", 10.0 - n, 1.0 + n) for n in range(top)]
        return rows, list(reversed(rows))


def with_image(engine: FakeEngine, tag: str, digest: str) -> FakeEngine:
    """``engine`` holding one image tagged ``tag`` pulled at ``digest``."""
    repo = tag.rsplit(":", 1)[0]
    engine.images_list = [
        ImageSummary("0123456789ab", (tag,), (f"{repo}@{digest}",), 187 << 20, STARTED),
        ImageSummary("ba9876543210", (), (), 3 << 20, STARTED),  # an untagged layer
    ]
    return engine
