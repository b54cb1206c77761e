"""The web console: authenticated page views, session validations, audit pages over 1M events,
and the host and containers pages (50 containers).

    uv run python -m bench.web [--n 500] [--events 1000000] [--backends sqlite,postgres]
                               [--containers 50] [--page-views 50]

Page views go through the whole app (security headers, session cookie validated against the
store with its IP and browser binding, the guard, Jinja2) via httpx's ASGI transport, so they
measure the console, not a network. The audit table is filled with a bulk insert, then the
first page and the 1,000th page (keyset: ``before`` = the last id of page 999) are timed.

The host page reads this machine with psutil: once as the console does (a 0.2 s CPU sample in
a worker thread) and once without the sample (the console's own cost). The containers page
lists ``--containers`` running busybox containers on a real podman service started here (as
the tests do: tests/containers/podman.py), and the same number from an in-memory engine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docker
import httpx
import pyotp
from sqlalchemy import insert
from tests.containers.podman import IMAGE, PodmanService
from tests.web.conftest import ADMIN, ADMIN_PASSWORD, UA, web_settings
from tests.web.fakes import FakeContainer, FakeEngine

from bench.common import Backends, median, table
from hostwarden.config import Settings
from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Role
from hostwarden.core.service import AccessCore
from hostwarden.host.metrics import HostReader
from hostwarden.storage.sql import tables
from hostwarden.web.actions import web_policy
from hostwarden.web.app import create_app
from hostwarden.web.services import ConsoleServices

PAGE = 50
SLEEPER = "trap 'exit 0' TERM; while true; do sleep 1; done"
LISTED = "/containers?q=hwbench-"


async def fill_audit(store: object, events: int) -> int:
    """Bulk-insert ``events`` audit rows; returns the highest id."""
    db = store.db  # type: ignore[attr-defined]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = 20_000
    for offset in range(0, events, batch):
        rows = [
            {
                "at": start + timedelta(seconds=i),
                "kind": "access.unknown",
                "actor": f"tg:{1_000_000 + i % 5000}",
                "subject": "",
                "detail": {"action": "host.view", "attempt": 1},
            }
            for i in range(offset, min(offset + batch, events))
        ]
        async with db.write() as conn:
            await conn.execute(insert(tables.audit_events), rows)
    return events


async def timed_get(client: httpx.AsyncClient, path: str, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = await client.get(path)
        samples.append(time.perf_counter() - began)
        assert response.status_code == 200, (path, response.status_code)
    return median(samples)


@contextmanager
def podman_containers(count: int) -> Iterator[tuple[str, docker.DockerClient]]:
    """A podman service with ``count`` running busybox containers; its URL and a client.

    Its storage is its own (``CONTAINERS_STORAGE_CONF``), so that nothing else on the machine
    adds or removes containers under the benchmark.
    """
    directory = Path(tempfile.mkdtemp(prefix="hostwarden-bench-podman-"))
    storage = directory / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{directory / "graph"}"\n'
        f'runroot = "{directory / "run"}"\n'
    )
    os.environ["CONTAINERS_STORAGE_CONF"] = str(storage)  # read by PodmanService's podman
    service = PodmanService(directory)
    client = docker.DockerClient(base_url=service.url, timeout=120)
    started = [
        client.containers.run(IMAGE, ["sh", "-c", SLEEPER], name=f"hwbench-{i:02d}", detach=True)
        for i in range(count)
    ]
    try:
        yield service.url, client
    finally:
        for container in started:
            container.remove(force=True)
        client.close()
        service.stop()
        # podman leaves its private store's overlay directory mounted: unmount, then remove.
        umount = shutil.which("umount") or "/usr/bin/umount"
        overlay = str(directory / "graph" / "overlay")  # our own temporary directory
        subprocess.run([umount, overlay], capture_output=True, check=False)  # noqa: S603
        shutil.rmtree(directory, ignore_errors=True)


async def views_per_second(
    client: httpx.AsyncClient, clock: ManualClock, path: str, n: int, marker: str
) -> float:
    """Sequential views of ``path`` (each checked for ``marker``), paced under the rate limit."""
    first = await client.get(path)  # warm up, and check what is measured
    assert marker in first.text, (path, first.status_code, marker)
    began = time.perf_counter()
    for _ in range(n):
        clock.advance(0.5)
        response = await client.get(path)
        if response.status_code != 200 or marker not in response.text:
            problem = re.search(r'id="error">([^<]*)<', response.text)
            raise AssertionError(f"{path}: {response.status_code} {problem and problem.group(1)}")
    return n / (time.perf_counter() - began)


async def page_views(
    core: AccessCore, settings: Settings, token: str, clock: ManualClock, podman_url: str,
    containers: int, n: int,
) -> list[str]:  # fmt: skip
    """Views per second of /host (sampled, unsampled) and /containers (podman, in memory)."""
    fake = FakeEngine().add(*(FakeContainer(f"hwbench-{i:02d}") for i in range(containers)))
    real = ContainerEngine(ContainerSettings(docker_url=podman_url, timeout_seconds=60))
    variants = [
        (ConsoleServices.build(settings, host=HostReader()), "/host", "Top processes", n // 5),
        (ConsoleServices.build(settings, host=HostReader(0)), "/host", "Top processes", n),
        # The engine may hold other containers too (podman's store is the machine's): the
        # filter keeps the page to this benchmark's, and the list still reads them all.
        (ConsoleServices.build(settings, engine=real), LISTED, f"{containers} of", n),
        (ConsoleServices.build(settings, engine=fake), LISTED, f"{containers} of", n),
    ]
    shown = []
    for services, path, marker, count in variants:
        transport = httpx.ASGITransport(
            app=create_app(core, settings, services), client=("203.0.113.5", 40000)
        )
        async with httpx.AsyncClient(
            transport=transport, base_url="https://testserver", headers={"user-agent": UA},
            cookies={"__Host-hw_session": token},
        ) as client:  # fmt: skip
            rate = await views_per_second(client, clock, path, max(count, 5), marker)
        shown.append(f"{rate:,.1f}" if rate < 100 else f"{rate:,.0f}")
    await real.close()
    return shown


async def measure(
    backends: Backends, backend: str, n: int, events: int, podman_url: str, containers: int,
    page_n: int,
) -> tuple[list[object], list[object]]:  # fmt: skip
    clock = ManualClock()
    settings = web_settings()
    store = await backends.store(backend)
    core = AccessCore(store, settings.core(), clock, web_policy())
    await core.start()
    admin = await core.accounts.register(ADMIN, ADMIN_PASSWORD, frozenset({Role.ADMIN, Role.USER}))
    enrolment = await core.totp.begin_enrolment(admin)
    await core.totp.confirm_enrolment(admin, pyotp.TOTP(enrolment.secret).at(clock.now()))
    login = await core.accounts.login(ADMIN, ADMIN_PASSWORD, "203.0.113.5", UA)
    assert login.session is not None
    session = await core.sessions.rotate(login.session.token, mfa=True)
    assert session is not None
    transport = httpx.ASGITransport(app=create_app(core, settings), client=("203.0.113.5", 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers={"user-agent": UA},
        cookies={"__Host-hw_session": session.token},
    ) as client:  # fmt: skip
        await timed_get(client, "/account", 3)
        began = time.perf_counter()
        for _ in range(n):
            clock.advance(0.5)  # within the per-user rate limit
            assert (await client.get("/account")).status_code == 200
        views = n / (time.perf_counter() - began)

        began = time.perf_counter()
        for _ in range(n * 4):
            assert await core.sessions.validate(session.token, "203.0.113.5", UA) is not None
        validations = n * 4 / (time.perf_counter() - began)

        pages = await page_views(
            core, settings, session.token, clock, podman_url, containers, page_n
        )

        filled = time.perf_counter()
        top = await fill_audit(store, events)
        fill_seconds = time.perf_counter() - filled
        first = await timed_get(client, "/audit")
        before = top - 999 * PAGE + 1  # keyset: the last id shown on page 999
        thousandth = await timed_get(client, f"/audit?before={before}")
        filtered = await timed_get(client, f"/audit?kind=access.unknown&before={before}")
    await core.close()
    ms = [f"{seconds * 1000:.1f}" for seconds in (first, thousandth, filtered)]
    filled_text = f"{events:,} in {fill_seconds:,.0f} s"
    row = [backend, f"{views:,.0f}", f"{validations:,.0f}", filled_text, *ms]
    return row, [backend, *pages]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--page-views", type=int, default=50)
    args = parser.parse_args()
    backends = Backends()
    try:
        with podman_containers(args.containers) as (podman_url, engine):
            held = len(engine.containers.list(all=True))
            results = [
                await measure(backends, name, args.n, args.events, podman_url, args.containers,
                              args.page_views)
                for name in args.backends.split(",")
            ]  # fmt: skip
    finally:
        backends.close()
    print(f"{args.n:,} page views of /account, {args.n * 4:,} session validations, one client\n")
    print(table(["backend", "page views/s", "session validations/s", "audit events",
                 "audit page 1 ms", "page 1,000 ms", "page 1,000 by kind ms"],
                [row for row, _ in results]))  # fmt: skip
    print(
        f"\nHost and containers pages, views/s, one client ({args.containers} containers listed; "
        f"the engine held {held} in all)\n"
    )
    print(table(["backend", "/host", "/host, no CPU sample", "/containers, podman",
                 "/containers, in-memory engine"], [row for _, row in results]))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
