"""The container engine, through the docker SDK, as async calls that always end.

The SDK is synchronous, so every call runs in a worker thread under a deadline. An engine that is
down, slow or refusing gives :class:`~hostwarden.errors.Unavailable` with one line, never a crash.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from hostwarden.containers.expected import ExpectedActions
from hostwarden.containers.redact import clean_log
from hostwarden.containers.settings import ContainerSettings
from hostwarden.errors import InvalidInput, NotFound, Unavailable

T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
HIDDEN = "(hidden)"


def check_container_name(name: str) -> str:
    """Return ``name`` if it can be a container name or ID, else raise :class:`InvalidInput`."""
    if not _NAME.fullmatch(name):
        raise InvalidInput("container names are letters, digits, '_', '.' or '-' (up to 128)")
    return name


def parse_time(value: str | None) -> datetime | None:
    """The engine's RFC 3339 time (nanoseconds and all), or ``None`` for the zero time."""
    if not value or value.startswith("0001-"):
        return None
    try:  # Python 3.11 reads "Z" and nanoseconds (kept to microseconds)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    name: str
    short_id: str
    image: str
    state: str
    started_at: datetime | None
    #: The health check's verdict (``healthy``, ``unhealthy``, ``starting``); ``None``: none.
    health: str | None = None


@dataclass(frozen=True, slots=True)
class ContainerDetails:
    summary: ContainerSummary
    created_at: datetime | None
    restart_count: int
    exit_code: int | None
    health: str | None
    command: str
    ports: tuple[str, ...]
    mounts: tuple[str, ...]
    networks: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RuntimeState:
    """What the event follower asks the engine about a container that died or changed health."""

    oom_killed: bool
    memory_limit: int  # bytes; 0 when unlimited
    health: str | None


@dataclass(frozen=True, slots=True)
class ImageSummary:
    short_id: str
    tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    size: int
    created_at: datetime | None


def _summary(container: Container) -> ContainerSummary:
    attrs: dict[str, Any] = container.attrs
    state = attrs.get("State")
    started = parse_time(state.get("StartedAt")) if isinstance(state, dict) else None
    status = state.get("Status") if isinstance(state, dict) else state
    # The SDK's list inspects every container, so its health costs nothing more here.
    health = (state.get("Health") or {}).get("Status") if isinstance(state, dict) else None
    config = attrs.get("Config") or {}
    image = config.get("Image") or attrs.get("Image") or "?"
    return ContainerSummary(
        container.name or container.short_id, container.short_id, image, status or "?", started,
        health or None,
    )  # fmt: skip


def _environment(config: dict[str, Any], allow: set[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in config.get("Env") or []:
        key, _, value = str(item).partition("=")
        pairs.append((key, value if key in allow else HIDDEN))
    return tuple(pairs)


def _ports(attrs: dict[str, Any]) -> tuple[str, ...]:
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    shown = []
    for inside, bindings in sorted(ports.items()):
        for binding in bindings or []:
            shown.append(f"{binding.get('HostIp') or '*'}:{binding.get('HostPort')} -> {inside}")
        if not bindings:
            shown.append(inside)
    return tuple(shown)


class ContainerEngine:
    """Lists, inspects, reads and manages containers; every call is bounded by the timeout.

    Starts, stops and restarts are noted in :attr:`expected` first, so the event follower
    knows them for hostwarden's own.
    """

    def __init__(self, settings: ContainerSettings) -> None:
        self._settings = settings
        self._client: docker.DockerClient | None = None
        self._allow = set(settings.env_allow_list)
        self.expected = ExpectedActions()

    def _connect(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(
                base_url=self._settings.docker_url, timeout=int(self._settings.timeout_seconds)
            )
        return self._client

    async def _call(self, function: Callable[[docker.DockerClient], T]) -> T:
        def run() -> T:
            return function(self._connect())

        try:
            return await asyncio.wait_for(
                asyncio.to_thread(run), timeout=self._settings.timeout_seconds
            )
        except docker.errors.NotFound:
            raise NotFound("no such container or image") from None
        except TimeoutError:
            raise Unavailable(
                f"the container engine did not answer within {self._settings.timeout_seconds:g} s"
            ) from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            self._client = None  # reconnect next time: the engine may have restarted
            status = getattr(exc, "status_code", None)
            if status is not None and status < 500:
                raise InvalidInput(f"the container engine refused: {_explain(exc)}") from None
            raise Unavailable(
                f"the container engine at {self._settings.docker_url} is unreachable"
            ) from None

    async def containers(self) -> list[ContainerSummary]:
        """All containers, running or not, by name."""
        found = await self._call(lambda c: c.containers.list(all=True))
        return sorted((_summary(c) for c in found), key=lambda s: s.name)

    async def details(self, name: str) -> ContainerDetails:
        """One container in detail; environment values not on the allow-list are hidden."""
        check_container_name(name)
        container = await self._call(lambda c: c.containers.get(name))
        attrs: dict[str, Any] = container.attrs
        config = attrs.get("Config") or {}
        state = attrs.get("State") or {}
        health = (state.get("Health") or {}).get("Status") if isinstance(state, dict) else None
        command = " ".join(str(part) for part in (config.get("Cmd") or []))
        networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        mounts = tuple(
            f"{m.get('Source') or m.get('Name') or '?'} -> {m.get('Destination')}"
            for m in attrs.get("Mounts") or []
        )
        return ContainerDetails(
            _summary(container),
            parse_time(attrs.get("Created")),
            int(attrs.get("RestartCount") or 0),
            state.get("ExitCode") if isinstance(state, dict) else None,
            health or None,
            command,
            _ports(attrs),
            mounts,
            tuple(sorted(networks)),
            _environment(config, self._allow),
        )

    async def logs(self, name: str, lines: int) -> str:
        """The last ``lines`` lines of a container's output, cleaned for showing."""
        check_container_name(name)
        lines = max(1, min(lines, self._settings.max_log_lines))
        raw = await self._call(
            lambda c: c.containers.get(name).logs(tail=lines, stdout=True, stderr=True)
        )
        return clean_log(raw.decode("utf-8", errors="replace"))

    async def runtime_state(self, name: str) -> RuntimeState:
        """OOM kill, memory limit and health of one container (by name or ID)."""
        check_container_name(name)
        container = await self._call(lambda c: c.containers.get(name))
        attrs: dict[str, Any] = container.attrs
        found = attrs.get("State")
        state: dict[str, Any] = found if isinstance(found, dict) else {}
        health = (state.get("Health") or {}).get("Status") or None
        memory = (attrs.get("HostConfig") or {}).get("Memory") or 0
        return RuntimeState(bool(state.get("OOMKilled")), int(memory), health)

    async def start(self, name: str) -> ContainerSummary:
        return await self._act(name, "start", lambda ct: ct.start())

    async def stop(self, name: str) -> ContainerSummary:
        return await self._act(name, "stop", lambda ct: ct.stop(timeout=self._stop_grace()))

    async def restart(self, name: str) -> ContainerSummary:
        return await self._act(name, "restart", lambda ct: ct.restart(timeout=self._stop_grace()))

    def _stop_grace(self) -> int:
        # Leave room inside the call's deadline for the engine to answer after the kill.
        return max(int(self._settings.timeout_seconds / 2), 1)

    async def _act(
        self, name: str, verb: str, action: Callable[[Container], object]
    ) -> ContainerSummary:
        check_container_name(name)

        def run(client: docker.DockerClient) -> ContainerSummary:
            container = client.containers.get(name)
            awaited = self.expected.expect(verb, container.id or "")
            try:
                action(container)
            except Exception:
                self.expected.discard(container.id or "", awaited)
                raise
            container.reload()
            return _summary(container)

        return await self._call(run)

    async def images(self) -> list[ImageSummary]:
        """Local images, newest first."""
        found = await self._call(lambda c: c.images.list())
        summaries = [
            ImageSummary(
                image.short_id.removeprefix("sha256:"),
                tuple(image.tags),
                tuple(image.attrs.get("RepoDigests") or ()),
                int(image.attrs.get("Size") or 0),
                parse_time(str(image.attrs.get("Created") or "")),
            )
            for image in found
        ]
        return sorted(
            summaries, key=lambda i: i.created_at or datetime.min.replace(tzinfo=UTC), reverse=True
        )

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await asyncio.to_thread(client.close)


def _explain(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())[:200]
