"""The managed hosts of the end-to-end fleet test: per host a network namespace, a podman service
with its own storage, and ``hostwarden agent serve`` as a real process inside the namespace.

The agent listens on the namespace's address, which the hub (this process) reaches over the veth
pair; it reaches its engine through the podman socket, a file. ``hostwarden`` commands (the hub's
``hosts ...``, an agent's ``enroll``) run as subprocesses too, awaited, so that the hub's console
in this process's event loop can answer them. ``agent enroll`` runs outside the namespace: the
console serves plain HTTP on loopback, which enrolment accepts from loopback only; the agent's
key and certificates land in its data directory all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from hostwarden.fleet.identity import AgentFiles
from tests.containers.conftest import LOOP
from tests.containers.podman import IMAGE, PodmanService
from tests.fleet.netns import NetnsHost

PORT = 9443
#: What an agent logs once it answers the hub and follows its engine's events.
READY = ("agent listening on", "container events: following the engine")
#: A container that runs until SIGTERM (quick to stop), on every host.
WEB = "web"
#: What the hub's commands and the agents import.
WARM = (
    "hostwarden.cli.root", "hostwarden.cli.hosts", "hostwarden.cli.agent", "hostwarden.runtime",
    "hostwarden.fleet.agent", "hostwarden.fleet.join", "hostwarden.fleet.enrolment",
    "hostwarden.fleet.probe",
)  # fmt: skip


@contextlib.contextmanager
def shared_bytecode(cache: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Processes started in the block share one bytecode cache, ``cache``, warmed from now on.

    Where ``PYTHONDONTWRITEBYTECODE`` is set, each ``hostwarden`` process would compile its
    thousand modules again: seconds each, on two cores. The block also clears ``HOSTWARDEN_*``.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
        patch.setenv("PYTHONPYCACHEPREFIX", str(cache))
        for name in [name for name in os.environ if name.startswith("HOSTWARDEN_")]:
            patch.delenv(name)
        warm = subprocess.Popen([sys.executable, "-c", f"import {', '.join(WARM)}"])
        try:
            yield warm
        finally:
            if warm.poll() is None:
                warm.kill()
            warm.wait()


async def hostwarden(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``hostwarden ARGS`` in a subprocess: (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hostwarden", *args, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def hub_env(data: Path) -> dict[str, str]:
    """The environment of the hub's commands: its data directory, no config file."""
    return {**os.environ, "HOSTWARDEN_STORAGE__DATA_DIR": str(data)}


class FleetHost:
    """One managed host; everything it starts is stopped by the ``stack`` it was made with."""

    def __init__(self, name: str, directory: Path, stack: contextlib.ExitStack) -> None:
        self.name = name
        self.directory = directory
        directory.mkdir(parents=True)
        # A short path: podman 4.3 reports a container's exit 20 s late under a longer one.
        engine = Path(tempfile.mkdtemp(prefix="hwpm-"))
        stack.callback(shutil.rmtree, engine, ignore_errors=True)
        self.podman = PodmanService(engine, own_storage=True)
        stack.callback(self.podman.stop)
        self.netns = NetnsHost()
        stack.callback(self.netns.close)  # stops the agent too
        self.engine = docker.DockerClient(base_url=self.podman.url, timeout=30)
        stack.callback(self.engine.close)
        self.data = directory / "agent"
        self.read_only = False
        self.process: subprocess.Popen[Any] | None = None
        self.log = directory / "agent-0.log"
        self._runs = 0

    @property
    def url(self) -> str:
        """Where the hub reaches this host's agent."""
        return f"https://{self.netns.address}:{PORT}"

    @property
    def running(self) -> bool:
        """Whether the agent process runs."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the agent in the namespace (a new log file for each run)."""
        self._runs += 1
        self.log = self.directory / f"agent-{self._runs}.log"
        command = [
            sys.executable, "-m", "hostwarden", "agent", "serve", "--data", str(self.data),
            "--listen", f"{self.netns.address}:{PORT}", "--docker-url", self.podman.url,
        ]  # fmt: skip
        if self.read_only:
            command.append("--read-only")
        self.process = self.netns.popen(command, log=self.log)

    async def ready(self, seconds: float = 30) -> None:
        """Wait (bounded) until the agent process says it serves and follows its engine."""
        deadline = time.monotonic() + seconds
        assert self.process is not None
        while not all(line in (said := self.said()) for line in READY):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"agent {self.name} did not start: {said[-600:]}")
            await asyncio.sleep(0.05)  # another process starting: its log is all there is

    def said(self) -> str:
        """What the running agent has logged."""
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> int:
        """SIGTERM the agent; its exit status."""
        assert self.process is not None
        self.process.terminate()
        return int(self.process.wait(30))

    def run(self, name: str, script: str = LOOP) -> Container:
        """A container running ``script`` (no network: namespaces and podman stay apart)."""
        return self.engine.containers.run(
            IMAGE, ["sh", "-c", script], name=name, detach=True, network_mode="none"
        )

    def started_at(self, name: str) -> str:
        """When container ``name`` last started, as podman says."""
        return str(self.engine.containers.get(name).attrs["State"]["StartedAt"])

    def operations(self) -> list[dict[str, str]]:
        """The agent's own log of the operations it performed or refused (JSON lines)."""
        path = AgentFiles(self.data).operations
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]
