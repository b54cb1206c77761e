"""/containers (filterable), /containers/NAME (details and paged logs) and /images.

The same policy actions as the bot's: ``containers.view`` for the list and images,
``containers.inspect`` for one container, ``containers.logs`` for its logs. Environment values
are hidden unless allow-listed and logs are stripped of escapes with secrets masked, by the
engine, exactly as in the bot. An engine that is down or slow gives a page saying so.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from hostwarden.containers.engine import (
    ContainerDetails,
    ContainerSummary,
    ImageSummary,
    check_container_name,
)
from hostwarden.containers.registry import ImageUpdate
from hostwarden.errors import HostwardenError, NotFound
from hostwarden.fleet.target import ContainerReader, ManagedHost
from hostwarden.web.console import Console
from hostwarden.web.hosts import require_host
from hostwarden.web.viewer import Viewer

VIEW, INSPECT, LOGS = "containers.view", "containers.inspect", "containers.logs"
STATES = ("running", "exited", "paused", "restarting", "created", "dead")
LOG_PAGE = 50
#: Engine calls for one page run at most this many at a time.
PARALLEL = 8


@dataclass(frozen=True, slots=True)
class ContainerRow:
    """One line of the list: the summary plus health and restarts from the container's details."""

    summary: ContainerSummary
    health: str | None
    restarts: int | None


@dataclass(frozen=True, slots=True)
class LogPage:
    """Up to :data:`LOG_PAGE` lines; page 1 is the newest."""

    lines: list[str]
    page: int
    older: bool


def matches(summary: ContainerSummary, text: str, state: str) -> bool:
    """Whether a container passes the filter (``text`` in its name or image; its state)."""
    needle = text.lower()
    found = needle in summary.name.lower() or needle in summary.image.lower()
    return found and (not state or summary.state == state)


async def _rows(engine: ContainerReader, summaries: list[ContainerSummary]) -> list[ContainerRow]:
    gate = asyncio.Semaphore(PARALLEL)

    async def row(summary: ContainerSummary) -> ContainerRow:
        async with gate:
            try:
                details = await engine.details(summary.name)
            except HostwardenError:  # gone since listed, or the engine hiccuped: show what we have
                return ContainerRow(summary, None, None)
        return ContainerRow(summary, details.health, details.restart_count)

    return list(await asyncio.gather(*(row(s) for s in summaries)))


async def containers_page(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer, host = await require_host(console, request, VIEW)
    text = request.query_params.get("q", "").strip()[:100]
    state = request.query_params.get("state", "")
    state = state if state in STATES else ""
    rows: list[ContainerRow] = []
    total, problem = 0, None
    try:
        summaries = await host.engine.containers()
        total = len(summaries)
        rows = await _rows(host.engine, [s for s in summaries if matches(s, text, state)])
    except HostwardenError as exc:
        problem = str(exc)
    return console.page(
        request, "containers.html", viewer, rows=rows, total=total, q=text, state=state,
        states=STATES, error=problem, now=console.core.clock.now(),
        title=console.services.title(host),
    )  # fmt: skip


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 6 and int(raw) else 1


async def read_logs(console: Console, host: ManagedHost, name: str, page: int) -> LogPage:
    """Page ``page`` of a container's newest log lines (at most ``max_log_lines`` back)."""
    most = console.services.containers.max_log_lines
    pages = max((most + LOG_PAGE - 1) // LOG_PAGE, 1)
    page = min(max(page, 1), pages)
    wanted = min(page * LOG_PAGE, most)
    text = await host.engine.logs(name, wanted)
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    end = max(len(lines) - (page - 1) * LOG_PAGE, 0)
    shown = [line[:2000] for line in lines[max(end - LOG_PAGE, 0) : end]]
    return LogPage(shown, page, len(lines) >= wanted and wanted < most)


async def container_page(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer, host = await require_host(console, request, INSPECT)
    name = str(request.path_params["name"])[:200]
    details: ContainerDetails | None = None
    logs: LogPage | None = None
    try:
        check_container_name(name)
        details = await host.engine.details(name)
        if await _may(console, viewer, LOGS, host.name):
            logs = await read_logs(console, host, name, _page_number(request))
    except NotFound as exc:
        return console.page(request, "error.html", viewer, 404, status=404, message=str(exc))
    except HostwardenError as exc:
        if details is None:
            status = 400 if exc.code == "invalid_input" else 200
            return console.page(
                request, "container.html", viewer, status, name=name, d=None, logs=None,
                error=str(exc), now=console.core.clock.now(),
            )  # fmt: skip
        logs = None
    return console.page(
        request, "container.html", viewer, name=name, d=details, logs=logs,
        notice=request.query_params.get("done"), now=console.core.clock.now(),
        host=console.services.title(host),
    )  # fmt: skip


async def _may(console: Console, viewer: Viewer, action: str, host: str) -> bool:
    return (await console.core.guard.decide(viewer.actor(), action, host)).allowed


async def images_page(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer, host = await require_host(console, request, VIEW)
    check = request.query_params.get("check") == "1"
    untagged = request.query_params.get("untagged") == "1"
    images: list[ImageSummary] = []
    updates: dict[str, list[ImageUpdate]] = {}
    problem = None
    try:
        images = await host.engine.images()
    except HostwardenError as exc:
        problem = str(exc)
    tagged = [i for i in images if i.tags]
    dangling = [i for i in images if not i.tags]
    if check and tagged:
        try:
            checks = await host.image_updates(tagged)
        except HostwardenError as exc:
            checks, problem = [], str(exc)
        updates = {i.short_id: [c for c in checks if c.reference in i.tags] for i in tagged}
    return console.page(
        request, "images.html", viewer, images=tagged + (dangling if untagged else []),
        updates=updates, checked=check, untagged=untagged, dangling=len(dangling),
        dangling_size=sum(i.size for i in dangling), error=problem,
        now=console.core.clock.now(), title=console.services.title(host),
    )  # fmt: skip
