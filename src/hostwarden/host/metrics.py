"""Readings of the host, taken with psutil and returned as plain frozen values.

Every reader is synchronous and quick; front ends run them in a worker thread. A reading the
host cannot give (no sensors, a disk that vanished) is left out, never an error.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

# Pseudo and read-only image filesystems say nothing about free space users care for.
_SKIP_FSTYPES = frozenset({"squashfs", "overlay", "tmpfs", "devtmpfs", "iso9660", "nsfs"})


@dataclass(frozen=True, slots=True)
class CpuReading:
    percent: float
    per_core: tuple[float, ...]
    cores_logical: int
    cores_physical: int | None
    load: tuple[float, float, float]
    frequency_mhz: float | None


@dataclass(frozen=True, slots=True)
class MemoryReading:
    total: int
    used: int
    available: int
    percent: float
    swap_total: int
    swap_used: int
    swap_percent: float


@dataclass(frozen=True, slots=True)
class DiskReading:
    mountpoint: str
    device: str
    fstype: str
    total: int
    used: int
    free: int
    percent: float


@dataclass(frozen=True, slots=True)
class InterfaceReading:
    name: str
    bytes_sent: int
    bytes_recv: int
    errors: int
    drops: int
    is_up: bool
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProcessReading:
    pid: int
    name: str
    user: str
    cpu_percent: float
    memory_percent: float


@dataclass(frozen=True, slots=True)
class SensorReading:
    chip: str
    label: str
    celsius: float
    high: float | None


@dataclass(frozen=True, slots=True)
class HostStatus:
    """The quick view: what ``/status`` shows."""

    hostname: str
    cpu: CpuReading
    memory: MemoryReading
    disks: tuple[DiskReading, ...]
    uptime_seconds: float
    sensors: tuple[SensorReading, ...] = field(default_factory=tuple)


class HostReader:
    """Reads the host. ``cpu_interval`` is how long CPU usage is sampled (0: since last call)."""

    def __init__(self, cpu_interval: float = 0.2, now: Callable[[], float] = time.time) -> None:
        self._cpu_interval = cpu_interval
        self._now = now

    def cpu(self) -> CpuReading:
        per_core = tuple(psutil.cpu_percent(self._cpu_interval, percpu=True))
        try:
            freq = psutil.cpu_freq()
        except (OSError, NotImplementedError):
            freq = None
        return CpuReading(
            percent=round(sum(per_core) / max(len(per_core), 1), 1),
            per_core=per_core,
            cores_logical=psutil.cpu_count() or len(per_core),
            cores_physical=psutil.cpu_count(logical=False),
            load=psutil.getloadavg(),
            frequency_mhz=freq.current if freq else None,
        )

    def memory(self) -> MemoryReading:
        virtual = psutil.virtual_memory()
        swap = psutil.swap_memory()
        return MemoryReading(
            virtual.total,
            virtual.total - virtual.available,
            virtual.available,
            virtual.percent,
            swap.total,
            swap.used,
            swap.percent,
        )

    def disks(self) -> tuple[DiskReading, ...]:
        readings = []
        seen: set[str] = set()
        for part in psutil.disk_partitions(all=False):
            if part.fstype in _SKIP_FSTYPES or part.device in seen:
                continue
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:  # unmounted or unreadable since listing
                continue
            seen.add(part.device)
            readings.append(
                DiskReading(
                    part.mountpoint,
                    part.device,
                    part.fstype,
                    usage.total,
                    usage.used,
                    usage.free,
                    usage.percent,
                )
            )
        return tuple(readings)

    def network(self) -> tuple[InterfaceReading, ...]:
        counters = psutil.net_io_counters(pernic=True)
        stats = psutil.net_if_stats()
        addresses = psutil.net_if_addrs()
        readings = []
        for name, io in sorted(counters.items()):
            addrs = tuple(
                a.address
                for a in addresses.get(name, [])
                if a.family.name in ("AF_INET", "AF_INET6")
            )
            readings.append(
                InterfaceReading(
                    name,
                    io.bytes_sent,
                    io.bytes_recv,
                    io.errin + io.errout,
                    io.dropin + io.dropout,
                    bool(stats[name].isup) if name in stats else False,
                    addrs,
                )
            )
        return tuple(readings)

    def processes(self, top: int = 10) -> tuple[list[ProcessReading], list[ProcessReading]]:
        """The ``top`` processes by CPU and by memory."""
        procs = []
        for proc in psutil.process_iter(
            ["pid", "name", "username", "cpu_percent", "memory_percent"]
        ):
            info = proc.info
            procs.append(
                ProcessReading(
                    info["pid"],
                    info["name"] or "?",
                    info["username"] or "?",
                    info["cpu_percent"] or 0.0,
                    round(info["memory_percent"] or 0.0, 1),
                )
            )
        by_cpu = sorted(procs, key=lambda p: p.cpu_percent, reverse=True)[:top]
        by_memory = sorted(procs, key=lambda p: p.memory_percent, reverse=True)[:top]
        return by_cpu, by_memory

    def sensors(self) -> tuple[SensorReading, ...]:
        reader = getattr(psutil, "sensors_temperatures", None)
        if reader is None:
            return ()
        try:
            chips = reader()
        except (OSError, RuntimeError):
            return ()
        return tuple(
            SensorReading(chip, entry.label or chip, entry.current, entry.high)
            for chip, entries in sorted(chips.items())
            for entry in entries
        )

    def uptime_seconds(self) -> float:
        return max(self._now() - psutil.boot_time(), 0.0)

    def status(self) -> HostStatus:
        return HostStatus(
            socket.gethostname(),
            self.cpu(),
            self.memory(),
            self.disks(),
            self.uptime_seconds(),
            self.sensors(),
        )
