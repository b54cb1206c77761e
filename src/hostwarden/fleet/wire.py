"""What an agent and the hub say to each other: strict, bounded models, and the host report's.

Both sides use these models: the agent builds its answers with them, the hub validates every answer
with them (:func:`parse`) after capping the body's size. Every text loses its control and format
characters (newlines, bidi overrides, zero-width characters) and is cut to its field's length;
names over their length are refused instead. Numbers are finite and bounded, lists are bounded.
What passes is plain data: front ends escape it like any other text.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from hostwarden.errors import Unavailable
from hostwarden.fleet.target import HostReport
from hostwarden.host.metrics import (
    CpuReading,
    DiskReading,
    HostStatus,
    InterfaceReading,
    MemoryReading,
    ProcessReading,
    SensorReading,
)

#: The largest answer the hub reads from an agent (logs included); larger ones are refused unread.
MAX_BODY = 1024 * 1024
#: Every path starts with it.
API = "/v1"

# Bidi and zero-width format characters, line/paragraph separators, surrogates, the BOM,
# interlinear annotations and Unicode tag characters: with C0/C1 controls, never shown.
_FORMAT = (
    "\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ud800-\udfff\ufeff\ufff9-\ufffb\U000e0000-\U000e007f"
)
_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_FORMAT}]+")
_IN_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}]+")

M = TypeVar("M", bound=BaseModel)


def clean_line(value: object, limit: int) -> object:
    """``value`` on one line: invisible characters become spaces, runs of spaces one, cut.

    Anything but a string is handed on unchanged, for strict validation to refuse.
    """
    if not isinstance(value, str):
        return value
    return " ".join(_ONE_LINE.sub(" ", value[: limit * 4]).split())[:limit]


def clean_text(value: object, limit: int) -> object:
    """Like :func:`clean_line` but keeping newlines and tabs (log output)."""
    if not isinstance(value, str):
        return value
    return _IN_TEXT.sub("", value[: limit * 4])[:limit]


def _line(limit: int) -> BeforeValidator:
    return BeforeValidator(partial(clean_line, limit=limit))


def _name(limit: int) -> BeforeValidator:
    # One over the limit, so that the pattern refuses a name that was too long instead of cutting.
    return BeforeValidator(partial(clean_line, limit=limit + 1))


#: A container's name, as the engine allows them (so it is safe in a path and a command).
Name = Annotated[str, _name(128), Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
Label = Annotated[str, _line(128)]
Line = Annotated[str, _line(300)]
LongLine = Annotated[str, _line(2000)]
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
# A process's CPU share can pass 100 % on several cores.
ProcessPercent = Annotated[float, Field(ge=0, le=100 * 4096, allow_inf_nan=False)]
Number = Annotated[float, Field(ge=-1e6, le=1e12, allow_inf_nan=False)]


class Wire(BaseModel):
    """Base of every model: strict types, unknown fields ignored (a newer agent may add some)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def parse(model: type[M], body: bytes, host: str) -> M:
    """``body`` (JSON) as ``model``; :class:`Unavailable` with one line when it is not that."""
    if len(body) > MAX_BODY:
        raise Unavailable(f"host {host} sent an answer over {MAX_BODY // 1024} KiB")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])[:80] or "body"
        raise Unavailable(f"host {host} sent an invalid answer (at {where})") from None


class Cpu(Wire):
    percent: Percent
    per_core: tuple[Percent, ...] = Field(max_length=4096)
    cores_logical: Annotated[int, Field(ge=0, le=65536)]
    cores_physical: Annotated[int, Field(ge=0, le=65536)] | None
    load: tuple[Number, Number, Number]
    frequency_mhz: Number | None


class Memory(Wire):
    total: Count
    used: Count
    available: Count
    percent: Percent
    swap_total: Count
    swap_used: Count
    swap_percent: Percent


class Disk(Wire):
    mountpoint: Line
    device: Line
    fstype: Label
    total: Count
    used: Count
    free: Count
    percent: Percent


class Sensor(Wire):
    chip: Label
    label: Label
    celsius: Number
    high: Number | None


class Interface(Wire):
    name: Label
    bytes_sent: Count
    bytes_recv: Count
    errors: Count
    drops: Count
    is_up: bool
    addresses: tuple[Label, ...] = Field(max_length=64)


class Process(Wire):
    pid: Annotated[int, Field(ge=0, le=2**31)]
    name: Label
    user: Label
    cpu_percent: ProcessPercent
    memory_percent: Percent


class Status(Wire):
    hostname: Label
    cpu: Cpu
    memory: Memory
    disks: tuple[Disk, ...] = Field(max_length=256)
    uptime_seconds: Annotated[float, Field(ge=0, le=1e10, allow_inf_nan=False)]
    sensors: tuple[Sensor, ...] = Field(max_length=256)


class Report(Wire):
    """:class:`~hostwarden.fleet.target.HostReport` on the wire."""

    status: Status
    network: tuple[Interface, ...] = Field(max_length=256)
    by_cpu: tuple[Process, ...] = Field(max_length=50)
    by_memory: tuple[Process, ...] = Field(max_length=50)

    @classmethod
    def of(cls, report: HostReport) -> Report:
        """The agent's side: its reading, cleaned and cut by the same rules."""
        return cls.model_validate(_plain(report), strict=False)

    def to_report(self) -> HostReport:
        """The hub's side: plain frozen values again."""
        s = self.status
        status = HostStatus(
            s.hostname,
            CpuReading(**dict(s.cpu)),
            MemoryReading(**dict(s.memory)),
            tuple(DiskReading(**dict(d)) for d in s.disks),
            s.uptime_seconds,
            tuple(SensorReading(**dict(x)) for x in s.sensors),
        )
        return HostReport(
            status,
            tuple(InterfaceReading(**dict(i)) for i in self.network),
            tuple(ProcessReading(**dict(p)) for p in self.by_cpu),
            tuple(ProcessReading(**dict(p)) for p in self.by_memory),
        )


def _plain(value: object) -> object:
    """A dataclass tree as dicts and lists (what ``model_validate`` reads)."""
    from dataclasses import fields, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value
