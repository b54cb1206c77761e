"""A real container engine for the tests: podman's Docker-compatible API on a private socket.

Recipe (also in DEVELOPERS.md): podman + runc from Debian, a containers.conf that picks runc and
sets ulimits, ``podman system service`` on a unix socket, and a busybox image made with
``podman import`` (no registry needed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tarfile
import time
from pathlib import Path

IMAGE = "localhost/hostwarden-test-busybox:latest"
CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
"""
APPLETS = ("sh", "echo", "sleep", "printf", "cat", "env")


class PodmanService:
    """``podman system service`` on ``<dir>/podman.sock``, stopped by :meth:`stop`.

    Keep ``<dir>`` short (45 characters or fewer): under a longer one, podman 4.3 with its own
    storage reports a container's exit (its ``die`` event, a wait) only 20 seconds late.
    """

    def __init__(self, directory: Path, own_storage: bool = False) -> None:
        missing = [tool for tool in ("podman", "runc", "busybox") if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(
                f"missing {', '.join(missing)}: run ./scripts/test, or "
                "apt-get install podman runc busybox-static"
            )
        self.directory = directory
        self.conf = directory / "containers.conf"
        # With its own storage, its own temporary files and event log too: podman keeps both in
        # /run/libpod by default, where every service would read the others' events (and a
        # reset at stop would remove them under the services still running).
        events = directory / "events.log"
        own = f'tmp_dir = "{directory / "tmp"}"\nevents_logfile_path = "{events}"\n'
        self.conf.write_text(CONF + own if own_storage else CONF)
        self.socket = directory / "podman.sock"
        self.env = {**os.environ, "CONTAINERS_CONF": str(self.conf)}
        self._own_storage = own_storage
        if own_storage:
            # Images and containers of its own: nothing else on the machine (the image tests'
            # builds, another suite) shows up in listings, and nothing is left behind.
            storage = directory / "storage.conf"
            storage.write_text(
                f'[storage]\ndriver = "overlay"\ngraphroot = "{directory / "graph"}"\n'
                f'runroot = "{directory / "run"}"\n'
            )
            self.env["CONTAINERS_STORAGE_CONF"] = str(storage)
        self.url = f"unix://{self.socket}"
        self._process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", self.url],
            env=self.env,
            # conmon drops files such as "oom" in its working directory: keep them in ours.
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=(directory / "service.log").open("w"),
        )
        self._wait_ready(30)
        self._ensure_image()

    def _wait_ready(self, seconds: float) -> None:
        # Waiting for another process to open its socket: bounded, and it ends as soon as it can.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"podman service exited; see {self.directory / 'service.log'}")
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(str(self.socket))
                    return
                except OSError:
                    time.sleep(0.05)
        raise RuntimeError("podman service did not open its socket in time")

    def podman(self, *args: str) -> str:
        result = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: {result.stderr.strip()[:300]}")
        return result.stdout.strip()

    def _ensure_image(self) -> None:
        if self.podman("images", "-q", IMAGE):
            return
        rootfs = self.directory / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        busybox = shutil.which("busybox")
        assert busybox is not None
        shutil.copy(busybox, rootfs / "bin" / "busybox")
        for applet in APPLETS:
            (rootfs / "bin" / applet).symlink_to("busybox")
        archive = self.directory / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(rootfs, arcname=".")
        self.podman("import", str(archive), IMAGE)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        if self._own_storage:
            # podman's own cleanup unmounts its layers; pytest alone cannot remove them later.
            subprocess.run(
                ["podman", "system", "reset", "--force"], env=self.env,
                capture_output=True, timeout=120, check=False,
            )  # fmt: skip
