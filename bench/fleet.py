"""The fleet: `/hosts` overview latency for 1, 10 and 50 agents, hub memory per agent, the cost of
a TLS handshake per request, and an idle agent's CPU and memory.

    uv run python -m bench.fleet [--reads 15] [--containers 5] [--real 1,10] [--simulated 1,10,50]
                                 [--idle 60]

The hub side is the hub's own code: a SQLite store, its CA, every agent enrolled with a token
(``HubEnrolment.invite`` / ``enrol``, as ``hosts add`` and ``agent enroll`` do), the fleet built by
``AgentRoster.sync`` (each agent a ``RemoteHost`` whose every answer's certificate is checked
against the store), and ``FleetOverview.read``, what ``/hosts`` shows. Every request is a mutual
TLS handshake on loopback (the client's ``force_close``).

*Real* agents are ``hostwarden agent serve`` processes, each reading this machine with psutil
(as ``/hosts`` asks: the 0.2 s CPU sample, the process table) and its containers through the
docker SDK from a small stand-in engine (a Docker API on a unix socket, ``--containers`` running
containers with a health check, events that never come). *Simulated* agents are the agent's own
app (``create_agent_app``), many in one helper process, each on its own loopback port with its own
certificate; their host reading is taken once and replayed and their engine is in memory, so
they measure the hub, TLS and the wire, not psutil.

The idle agent is one more ``hostwarden agent serve``, watched for ``--idle`` seconds (its host
monitor ticks once a minute) while the bench polls its alert feed every 15 s, as the hub's
roster does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from aiohttp import web

from bench.common import bench_settings, median, percentile, table
from hostwarden.containers.engine import ContainerDetails, ContainerEngine, ContainerSummary
from hostwarden.containers.registry import RegistryChecker
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import SystemClock
from hostwarden.core.service import AccessCore
from hostwarden.errors import NotFound
from hostwarden.fleet.agent_api import create_agent_app
from hostwarden.fleet.client import AgentClient
from hostwarden.fleet.enrolment import HubEnrolment
from hostwarden.fleet.feed import AlertRing
from hostwarden.fleet.files import write_private, write_public
from hostwarden.fleet.identity import AgentFiles
from hostwarden.fleet.oplog import OperationLog
from hostwarden.fleet.overview import FleetOverview
from hostwarden.fleet.pki import HubCA, agent_dns_name, key_pem, make_csr, new_key
from hostwarden.fleet.poller import INTERVAL_SECONDS, FeedPoller
from hostwarden.fleet.remote import RemoteHost
from hostwarden.fleet.roster import AgentRoster, hub_context
from hostwarden.fleet.target import Fleet, LocalHost
from hostwarden.fleet.tls import HubPin, agent_server_context
from hostwarden.fleet.wire import API
from hostwarden.fleet.wire_containers import Version
from hostwarden.host.metrics import (
    HostReader,
    HostStatus,
    InterfaceReading,
    ProcessReading,
)
from hostwarden.storage.sql import SqlStore

STARTED = "2026-11-25T08:00:00Z"


# ---------------------------------------------------------------------------------------------
# The helper process: a stand-in Docker engine on a unix socket, and simulated agents.


def _containers(count: int) -> list[dict[str, Any]]:
    """``count`` running containers as the engine inspects them (one in three unhealthy)."""
    return [
        {
            "Id": f"{i:02d}" + "ab" * 31,
            "Name": f"/app-{i:02d}",
            "Image": "sha256:" + "cd" * 32,
            "Created": STARTED,
            "RestartCount": 0,
            "State": {
                "Status": "running",
                "StartedAt": STARTED,
                "ExitCode": 0,
                "OOMKilled": False,
                "Health": {"Status": "unhealthy" if i % 3 == 2 else "healthy"},
            },
            "Config": {"Image": "busybox:latest", "Cmd": ["sh", "-c", "sleep 1d"], "Env": []},
            "HostConfig": {"Memory": 0},
            "NetworkSettings": {"Ports": {}, "Networks": {"bridge": {}}},
            "Mounts": [],
        }
        for i in range(count)
    ]


def engine_app(count: int) -> web.Application:
    """The part of the Docker API the agent calls: version, ping, containers, images, events."""
    inspected = _containers(count)
    by_key = {c["Id"]: c for c in inspected} | {c["Name"][1:]: c for c in inspected}
    listed = [{"Id": c["Id"], "Names": [c["Name"]], "State": "running"} for c in inspected]

    async def dispatch(request: web.Request) -> web.StreamResponse:
        path = re.sub(r"^/v[0-9.]+", "", request.path)
        if path == "/_ping":
            return web.Response(text="OK")
        if path == "/version":
            return web.json_response({"ApiVersion": "1.41", "Version": "24.0.0"})
        if path == "/containers/json":
            return web.json_response(listed)
        if path == "/images/json":
            return web.json_response([])
        found = re.fullmatch(r"/containers/([^/]+)/json", path)
        if found and found.group(1) in by_key:
            return web.json_response(by_key[found.group(1)])
        if path == "/events":  # a stream in which nothing happens
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            await asyncio.Event().wait()
            return response
        return web.json_response({"message": "no such thing"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


class CannedReader(HostReader):
    """This machine's reading, taken once and replayed (simulated agents share one machine)."""

    def __init__(self) -> None:
        super().__init__(cpu_interval=0)
        self._status = super().status()
        self._network = super().network()
        self._processes = super().processes(50)

    def status(self) -> HostStatus:
        return self._status

    def network(self) -> tuple[InterfaceReading, ...]:
        return self._network

    def processes(self, top: int = 10) -> tuple[list[ProcessReading], list[ProcessReading]]:
        by_cpu, by_memory = self._processes
        return by_cpu[:top], by_memory[:top]


class MemoryEngine(ContainerEngine):
    """The stand-in engine's containers, answered from memory (no docker SDK, no socket)."""

    def __init__(self, count: int) -> None:
        super().__init__(ContainerSettings(docker_url="unix:///nonexistent.sock"))
        self._details: dict[str, ContainerDetails] = {}
        for raw in _containers(count):
            health = raw["State"]["Health"]["Status"]
            summary = ContainerSummary(
                raw["Name"][1:], raw["Id"][:12], "busybox:latest", "running", None, health
            )
            self._details[summary.name] = ContainerDetails(
                summary, None, 0, 0, health, "sh -c sleep 1d", (), (), ("bridge",), ()
            )

    async def containers(self) -> list[ContainerSummary]:
        return [d.summary for d in self._details.values()]

    async def details(self, name: str) -> ContainerDetails:
        if name not in self._details:
            raise NotFound("no such container or image")
        return self._details[name]


async def serve_helper(spec: dict[str, Any]) -> None:
    """The helper process: the engine socket and the simulated agents ``spec`` names."""
    runners = []
    engine = web.AppRunner(engine_app(spec["containers"]), access_log=None)
    await engine.setup()
    await web.UnixSite(engine, spec["engine_socket"]).start()
    runners.append(engine)
    reader = CannedReader()
    for agent in spec["agents"]:
        files = AgentFiles(Path(agent["dir"]))
        context = agent_server_context(files.cert, files.key, files.hub_ca)
        host = LocalHost(
            "agent", reader, MemoryEngine(spec["containers"]), RegistryChecker(ContainerSettings())
        )
        app = create_agent_app(
            host, AlertRing(), OperationLog(files.operations), pin=HubPin.load(files.hub_pin)
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", agent["port"], ssl_context=context).start()
        runners.append(runner)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the hub goes
    for runner in runners:
        await runner.cleanup()


# ---------------------------------------------------------------------------------------------
# The hub.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Hub:
    core: AccessCore
    enrolment: HubEnrolment
    directory: Path

    async def enrol(self, name: str, port: int) -> AgentFiles:
        """Enrol ``name`` at ``https://127.0.0.1:port`` with a token, as ``agent enroll`` does."""
        token = await self.enrolment.invite(name, f"https://127.0.0.1:{port}", "cli:bench")
        key = new_key()
        answer = await self.enrolment.enrol(token.reveal(), make_csr(key, name), "ip:127.0.0.1")
        files = AgentFiles(self.directory / "agents" / name)
        files.directory.mkdir(mode=0o700, parents=True)
        write_private(files.key, key_pem(key))
        write_public(files.cert, answer.certificate.encode())
        write_public(files.hub_ca, answer.ca.encode())
        write_public(files.hub_pin, answer.hub_client_fingerprint.encode())
        return files

    def roster(self) -> tuple[AgentRoster, Fleet]:
        settings = ContainerSettings(docker_url="unix:///nonexistent.sock")
        own = LocalHost("hub", HostReader(0), ContainerEngine(settings), RegistryChecker(settings))
        fleet = Fleet([own])
        clock = self.core.clock
        return AgentRoster(fleet, self.enrolment, FeedPoller(self.core.alerts, clock), clock), fleet


@contextlib.asynccontextmanager
async def started_hub(directory: Path) -> AsyncIterator[Hub]:
    clock = SystemClock()  # TLS checks certificates against the real clock
    core = AccessCore(SqlStore(str(directory / "hub.db")), bench_settings(), clock)
    await core.start()
    ca = HubCA.load_or_create(directory / "fleet", clock.now())
    try:
        yield Hub(core, HubEnrolment(core.store, ca, core.audit, clock), directory)
    finally:
        await core.close()


@contextlib.contextmanager
def helper(directory: Path, containers: int, agents: Sequence[tuple[str, int]]) -> Iterator[str]:
    """The helper process serving the engine and ``agents`` (directory name, port)."""
    socket_path = str(directory / "engine.sock")
    spec = {
        "engine_socket": socket_path,
        "containers": containers,
        "agents": [{"dir": str(directory / "agents" / n), "port": p} for n, p in agents],
    }
    spec_file = directory / "helper.json"
    spec_file.write_text(json.dumps(spec))
    process = subprocess.Popen(  # noqa: S603 (this interpreter, this module)
        [sys.executable, "-m", "bench.fleet", "--helper", str(spec_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stdin is not None
    if process.stdout.readline().strip() != "ready":
        raise SystemExit("the helper process did not start")
    try:
        yield f"unix://{socket_path}"
    finally:
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


Process = subprocess.Popen[bytes]


def start_agent(files: AgentFiles, port: int, docker_url: str, log: Path) -> Process:
    """``hostwarden agent serve`` for ``files`` on loopback ``port``."""
    command = [
        str(Path(sys.executable).parent / "hostwarden"), "agent", "serve",
        "--listen", f"127.0.0.1:{port}", "--data", str(files.directory),
        "--docker-url", docker_url,
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


async def wait_listening(ports: Sequence[int], processes: Sequence[Process]) -> None:
    deadline = time.monotonic() + 180  # ten imports at once on a busy machine
    for port, process in zip(ports, processes, strict=True):
        while True:
            if process.poll() is not None:
                raise SystemExit(f"an agent exited with {process.returncode}: see its log")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("an agent did not listen within 180 s") from None
                await asyncio.sleep(0.1)
                continue
            writer.close()
            break


def stop_all(processes: Sequence[Process]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------------------------------
# Measurements.


async def overview_latency(
    hub: Hub, names: Sequence[str], reads: int, containers: int
) -> tuple[float, float, float, int]:
    """p50 and p95 ms of ``/hosts`` over ``names``, hub CPU ms per read, requests per read."""
    roster, fleet = hub.roster()
    await roster.sync()
    chosen = [n for n in fleet.names() if n in set(names)]
    overview = FleetOverview(hub.core.clock, timeout_seconds=30)
    sick = sum(1 for i in range(containers) if i % 3 == 2)
    samples = []
    try:
        for row in await overview.read(fleet, chosen):  # warm up, and check what is measured
            if not row.reachable or (row.containers, row.unhealthy) != (containers, sick):
                found = row.problem or f"{row.containers} containers, {row.unhealthy} unhealthy"
                raise SystemExit(f"{row.name}: {found} (expected {containers}, {sick})")
        cpu = time.process_time()
        for _ in range(reads):
            began = time.perf_counter()
            await overview.read(fleet, chosen)
            samples.append((time.perf_counter() - began) * 1000)
        cpu_ms = (time.process_time() - cpu) * 1000 / reads
    finally:
        await roster.close()
    # A report and the container list (which carries each container's health) per host.
    return percentile(samples, 0.5), percentile(samples, 0.95), cpu_ms, 2


async def handshake_cost(hub: Hub, name: str, url: str, n: int) -> list[list[object]]:
    """``GET /v1/version``, median ms and the hub's CPU ms per request: a new handshake each
    time (the hub's client, with its trust check), one kept-alive connection (no trust check),
    and the trust check alone."""
    context = hub_context(hub.enrolment)

    async def trust(fingerprint: str | None) -> bool:
        return await hub.enrolment.trusted(fingerprint, name)

    async def timed(client: AgentClient) -> tuple[float, float]:
        await client.get(f"{API}/version", Version)
        samples = []
        cpu = time.process_time()
        for _ in range(n):
            began = time.perf_counter()
            await client.get(f"{API}/version", Version)
            samples.append((time.perf_counter() - began) * 1000)
        cpu_ms = (time.process_time() - cpu) * 1000 / n
        await client.close()
        return median(samples), cpu_ms

    fresh = await timed(AgentClient(name, url, context, agent_dns_name(name), trust=trust))
    kept = await timed(AgentClient(name, url, context, agent_dns_name(name)))
    record = await hub.enrolment.hosts()
    fingerprint = next(r.fingerprint for r in record if r.name == name)
    samples = []
    cpu = time.process_time()
    for _ in range(n):
        began = time.perf_counter()
        await trust(fingerprint)
        samples.append((time.perf_counter() - began) * 1000)
    alone = median(samples), (time.process_time() - cpu) * 1000 / n
    return [
        [what, f"{wall:.2f}", f"{cpu_ms:.2f}"]
        for what, (wall, cpu_ms) in (
            ("new TLS handshake + trust check (the hub's client)", fresh),
            ("kept-alive connection", kept),
            ("trust check alone (a SQLite read)", alone),
        )
    ]


async def hub_memory(hub: Hub, names: Sequence[str]) -> list[list[object]]:
    """KiB per agent, traced (tracemalloc) and resident, of a roster of ``names``: once the
    fleet is built, after one ``/hosts`` read of all, after a second one."""
    process = psutil.Process()
    gc.collect()
    rss = process.memory_info().rss
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    rows: list[list[object]] = []

    def note(moment: str) -> None:
        gc.collect()
        traced, _ = tracemalloc.get_traced_memory()
        grown = process.memory_info().rss - rss
        per = len(names) * 1024
        rows.append([moment, f"{(traced - base) / per:,.1f}", f"{grown / per:,.0f}"])

    roster, fleet = hub.roster()
    await roster.sync()
    note(f"{len(names)} remote hosts in the fleet")
    overview = FleetOverview(hub.core.clock, timeout_seconds=30)
    chosen = [n for n in fleet.names() if n in set(names)]
    await overview.read(fleet, chosen)
    note("after one /hosts read")
    await overview.read(fleet, chosen)
    note("after a second read")
    tracemalloc.stop()
    await roster.close()
    return rows


async def idle_agent(
    hub: Hub, files: AgentFiles, port: int, docker_url: str, log: Path, window: float
) -> list[object]:
    """CPU (% of one core) and resident MiB of an idle agent polled every 15 s."""
    process = start_agent(files, port, docker_url, log)
    try:
        await wait_listening([port], [process])
        watched = psutil.Process(process.pid)
        started = watched.memory_info().rss
        host = RemoteHost(
            files.directory.name, f"https://127.0.0.1:{port}", hub_context(hub.enrolment),
            agent_dns_name(files.directory.name),
        )  # fmt: skip
        page = await host.events(0, None)  # first contact, as the roster's
        await asyncio.sleep(2)  # let start-up settle
        before = watched.cpu_times()
        rss_before = watched.memory_info().rss
        began = time.monotonic()
        polls = 0
        while (elapsed := time.monotonic() - began) < window:
            page = await host.events(page.latest, page.boot)
            polls += 1
            await asyncio.sleep(min(INTERVAL_SECONDS, window - elapsed))
        after = watched.cpu_times()
        elapsed = time.monotonic() - began
        rss = watched.memory_info().rss
        await host.close()
    finally:
        stop_all([process])
    busy = (after.user - before.user) + (after.system - before.system)
    return [
        f"{elapsed:.0f} s",
        polls,
        f"{busy * 1000:.0f} ms",
        f"{100 * busy / elapsed:.2f} %",
        f"{started / 2**20:.1f}",
        f"{rss_before / 2**20:.1f}",
        f"{rss / 2**20:.1f}",
    ]


async def run(args: argparse.Namespace) -> None:
    real_sizes = [int(n) for n in args.real.split(",") if n]
    sim_sizes = [int(n) for n in args.simulated.split(",") if n]
    directory = Path(tempfile.mkdtemp(prefix="hostwarden-bench-fleet-"))
    processes: list[Process] = []
    try:
        async with started_hub(directory) as hub:
            sims = [(f"sim{i:02d}", free_port()) for i in range(max(sim_sizes, default=0))]
            reals = [(f"real{i:02d}", free_port()) for i in range(max(real_sizes, default=0))]
            idle = ("idle", free_port())
            files = {name: await hub.enrol(name, port) for name, port in [*sims, *reals, idle]}
            with helper(directory, args.containers, sims) as docker_url:
                log = directory / "agents.log"
                processes = [start_agent(files[n], p, docker_url, log) for n, p in reals]
                await wait_listening([p for _, p in reals], processes)
                rows: list[list[object]] = []
                memory = await hub_memory(hub, [n for n, _ in sims] or [n for n, _ in reals])
                runs = (("real", reals, real_sizes), ("simulated", sims, sim_sizes))
                for kind, agents, sizes in runs:
                    for size in sizes:
                        names = [n for n, _ in agents[:size]]
                        p50, p95, cpu, requests = await overview_latency(
                            hub, names, args.reads, args.containers
                        )
                        rows.append(
                            [size, kind, args.reads, f"{p50:,.0f}", f"{p95:,.0f}", f"{cpu:,.0f}",
                             requests * size]
                        )  # fmt: skip
                stop_all(processes)
                processes = []
                first = sims[0] if sims else reals[0]
                handshakes = await handshake_cost(
                    hub, first[0], f"https://127.0.0.1:{first[1]}", 200
                )
                idle_row = await idle_agent(
                    hub, files[idle[0]], idle[1], docker_url, log, args.idle
                )
    finally:
        stop_all(processes)
        shutil.rmtree(directory, ignore_errors=True)

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Fleet ({args.containers} running containers per host; load average {load})\n")
    headers = ["agents", "agents are", "reads", "p50 ms", "p95 ms", "hub CPU ms/read"]
    print(table([*headers, "TLS requests/read"], rows))
    print()
    print(table(["GET /v1/version, one at a time", "median ms", "hub CPU ms"], handshakes))
    print()
    print(table(["hub memory per agent", "traced KiB", "resident KiB"], memory))
    print()
    headers = ["idle agent", "polls", "CPU", "CPU / core", "RSS at start MiB"]
    print(table([*headers, "RSS before MiB", "RSS after MiB"], [idle_row]))
    print(f"\n({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--reads", type=int, default=15, help="timed /hosts reads per size")
    parser.add_argument("--containers", type=int, default=5, help="running containers per host")
    parser.add_argument("--real", default="1,10", help="sizes with hostwarden agent processes")
    parser.add_argument("--simulated", default="1,10,50", help="sizes with simulated agents")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds watching the idle agent")
    parser.add_argument("--helper", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.helper is not None:
        asyncio.run(serve_helper(json.loads(args.helper.read_text())))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
