"""``hostwarden agent serve``: this host's readings, containers and alerts, for the hub only.

:func:`build_agent` wires this machine (psutil, the container engine, the registry checker) with
the alert ring, the operation log and the identity under the data directory; :meth:`Agent.serve`
answers on a listening socket with the TLS context until told to stop, running the host monitor
and the container event follower into the ring meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import sys
from dataclasses import dataclass

from aiohttp import web

from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.event_rules import EventJudge, EventRules
from hostwarden.containers.follower import DockerEventSource, EventFollower
from hostwarden.containers.registry import RegistryChecker
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import Clock, SystemClock
from hostwarden.errors import InvalidInput
from hostwarden.fleet.agent_api import create_agent_app
from hostwarden.fleet.feed import AlertRing
from hostwarden.fleet.identity import AgentFiles, AgentIdentity
from hostwarden.fleet.oplog import OperationLog
from hostwarden.fleet.target import LocalHost
from hostwarden.fleet.tls import HubPin
from hostwarden.host.metrics import HostReader
from hostwarden.host.monitor import HostMonitor
from hostwarden.host.thresholds import MonitorSettings
from hostwarden.signals import stop_on_signals

LOG = logging.getLogger("hostwarden.agent")


@dataclass
class Agent:
    """A built agent: its app, and the loops that fill its alert ring."""

    app: web.Application
    host: LocalHost
    ring: AlertRing
    log: OperationLog
    monitor: HostMonitor | None
    follower: EventFollower | None

    async def serve(
        self, sock: socket.socket, context: ssl.SSLContext, stop: asyncio.Event
    ) -> None:
        """Answer on ``sock`` over TLS with ``context`` until ``stop`` is set."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=2)
        await runner.setup()
        loops = [
            asyncio.create_task(loop.run(stop))
            for loop in (self.monitor, self.follower)
            if loop is not None
        ]
        try:
            await web.SockSite(runner, sock, ssl_context=context).start()
            LOG.info("agent listening on %s", _address(sock))
            await stop.wait()
        finally:
            for task in loops:
                task.cancel()
            for task in loops:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await runner.cleanup()
            await self.host.close()


def build_agent(
    files: AgentFiles,
    context: ssl.SSLContext | None,
    *,
    containers: ContainerSettings | None = None,
    monitor: MonitorSettings | None = None,
    read_only: bool = False,
    clock: Clock | None = None,
    watch: bool = True,
    pin: HubPin | None = None,
) -> Agent:
    """This machine as an agent; ``watch=False`` runs no monitor or follower (tests)."""
    clock = clock or SystemClock()
    containers = containers or ContainerSettings()
    monitor = monitor or MonitorSettings()
    engine = ContainerEngine(containers)
    host = LocalHost("agent", HostReader(), engine, RegistryChecker(containers))
    ring = AlertRing()
    log = OperationLog(files.operations, clock)
    identity = AgentIdentity(files, context, clock)
    app = create_agent_app(host, ring, log, read_only=read_only, identity=identity, pin=pin)
    watching = watch and monitor.enabled
    host_monitor = HostMonitor(ring, clock, monitor, host.reader, engine) if watching else None
    follower = None
    if watching and monitor.watch_containers:
        follower = EventFollower(
            ring,
            clock,
            DockerEventSource(containers.docker_url, containers.timeout_seconds),
            EventJudge(EventRules.from_settings(monitor), engine.expected),
            engine=engine,
        )
    return Agent(app, host, ring, log, host_monitor, follower)


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::]:9443`` for IPv6) as a pair; :class:`InvalidInput` otherwise."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or len(text) > 300:
        raise InvalidInput("--listen takes HOST:PORT, such as 0.0.0.0:9443")
    return host or "0.0.0.0", int(port)  # noqa: S104 (the agent serves the hub, over mTLS)


def run_agent(
    files: AgentFiles,
    listen_at: str,
    read_only: bool,
    docker_url: str | None = None,
    *,
    containers: ContainerSettings | None = None,
    monitor: MonitorSettings | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (blocking); one-line errors as :class:`HostwardenError`.

    ``containers`` and ``monitor`` are the config's sections (defaults without a config file);
    ``docker_url`` overrides the engine's address.
    """
    from hostwarden.fleet.tls import HubPin, agent_server_context
    from hostwarden.listening import listen
    from hostwarden.logs import configure_logging

    configure_logging(sys.stdout, logging.INFO)

    host, port = parse_listen(listen_at)
    files.check_enrolled()
    context = agent_server_context(files.cert, files.key, files.hub_ca)
    pin = HubPin.load(files.hub_pin)
    containers = containers or ContainerSettings()
    if docker_url:
        containers = containers.model_copy(update={"docker_url": docker_url})
    agent = build_agent(
        files, context, containers=containers, monitor=monitor, read_only=read_only, pin=pin
    )
    sock = listen(host, port)

    async def main() -> None:
        stop = stop_on_signals()
        await agent.serve(sock, context, stop)

    asyncio.run(main())
