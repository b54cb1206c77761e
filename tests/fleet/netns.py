"""Test hosts on one machine: a network namespace per host, joined to this one by a veth pair.

Each :class:`NetnsHost` gets ``10.<a>.<b>.2`` inside its namespace and ``.1`` on this side (a /30),
so a process run with :meth:`NetnsHost.popen` listens on an address that only this machine can
reach. Only loopback and these namespaces are ever targeted. Everything is removed by
:meth:`NetnsHost.close` (and a namespace's veth pair goes with it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

_counter = 0


def available() -> str | None:
    """Why namespaces cannot be made here, or ``None`` when they can."""
    if shutil.which("ip") is None:
        return "iproute2 is missing: run ./scripts/test, or apt-get install iproute2"
    if os.geteuid() != 0:
        return "network namespaces need root"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class NetnsHost:
    """One simulated host: a namespace ``hw<pid>x<n>`` reachable at :attr:`address`."""

    def __init__(self) -> None:
        global _counter
        _counter += 1
        pid = os.getpid()
        # Unique per process and host, so parallel runs never share a name or a subnet.
        self.name = f"hw{pid % 100000}x{_counter}"
        # 10.192.0.0/11: clear of podman's default 10.88.0.0/16 and of common LANs.
        second, third = 192 + (pid // 64) % 32, (pid % 64) * 4
        base = f"10.{second}.{third}"
        # One /30 per host inside a /24 that belongs to this process: .4n+1 here, .4n+2 there.
        host_part = (_counter % 63) * 4
        self.gateway = f"{base}.{host_part + 1}"
        self.address = f"{base}.{host_part + 2}"
        outside, inside = f"{self.name}a", f"{self.name}b"
        self._outside = outside
        self._processes: list[subprocess.Popen[Any]] = []
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", self.name)
            _ip("addr", "add", f"{self.gateway}/30", "dev", outside)
            _ip("link", "set", outside, "up")
            inner = ("netns", "exec", self.name, "ip")
            _ip(*inner, "addr", "add", f"{self.address}/30", "dev", inside)
            _ip(*inner, "link", "set", inside, "up")
            _ip(*inner, "link", "set", "lo", "up")
        except Exception:
            self.close()
            raise

    def popen(
        self, command: list[str], *, env: dict[str, str] | None = None, log: Path | None = None
    ) -> subprocess.Popen[Any]:
        """Start ``command`` inside the namespace; stopped by :meth:`close`."""
        out = log.open("w") if log is not None else subprocess.DEVNULL
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.name, *command],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self._processes.append(process)
        return process

    def close(self) -> None:
        """Stop what runs inside and remove the namespace and its veth pair."""
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        self._processes.clear()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", self._outside], capture_output=True, timeout=10)
