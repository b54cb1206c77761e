"""Fixtures for the container image: a private podman service, a local base image, the build.

The Dockerfile is built for real with podman (``--format docker``, which keeps HEALTHCHECK) on a
Debian base made by :mod:`tests.image.base` (cached in podman's store across runs). Packages come
from the index the host uses; a CA bundle the host trusts is passed as the build secret ``ca``.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.containers.podman import PodmanService
from tests.image.base import ensure_base_image

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/hostwarden-test-image:latest"
BUILD_TIMEOUT = 900


@dataclass(frozen=True)
class BuiltImage:
    name: str
    base: str
    size_bytes: int
    base_seconds: float  # 0 when the base came from podman's store
    build_seconds: float


def _http(url: str | None) -> str | None:
    return url if url and url.startswith(("http://", "https://")) else None


def host_index_url() -> str | None:
    """The package index this machine's uv or pip is told to use, if one is set (http only).

    A ``file://`` index, or only extra indexes, cannot be seen from inside the build: then the
    build uses the default index.
    """
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if url := _http(os.environ.get(name)):
            return url
    home = Path.home()
    for path in (Path("/etc/uv/uv.toml"), home / ".config/uv/uv.toml"):
        if path.is_file():
            config = tomllib.loads(path.read_text())
            for index in config.get("index", []):
                if index.get("default") and (url := _http(index.get("url"))):
                    return url
            if url := _http(config.get("index-url")):
                return url
    pip_files = [os.environ.get("PIP_CONFIG_FILE", ""), "/etc/pip.conf", "/etc/xdg/pip/pip.conf"]
    pip_files += [str(home / ".config/pip/pip.conf"), str(home / ".pip/pip.conf")]
    for name in pip_files:
        if name and Path(name).is_file():
            parser = configparser.ConfigParser()
            parser.read(name)
            for section in ("install", "global"):
                if url := _http(parser.get(section, "index-url", fallback=None)):
                    return url
    return None


def host_ca_bundle() -> Path | None:
    """The CA bundle this machine trusts (a TLS-inspecting network's CA may be only there)."""
    for name in ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    return system if system.is_file() else None


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanService]:
    """Its own service: the tests change its socket's group, as a Docker host's socket has one."""
    service = PodmanService(tmp_path_factory.mktemp("image-podman"))
    yield service
    service.stop()


@pytest.fixture(scope="session")
def built_image(podman: PodmanService, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    started = time.monotonic()
    base, fresh = ensure_base_image(podman.podman, tmp_path_factory.mktemp("image-base"))
    base_seconds = time.monotonic() - started if fresh else 0.0
    # The host's network for the downloads: no bridge or NAT needed on the test machine.
    args = ["build", "--format", "docker", "--network", "host", "--build-arg", f"BASE={base}"]
    args += ["--tag", IMAGE]
    if index := host_index_url():
        args += ["--build-arg", f"INDEX_URL={index}"]
    if bundle := host_ca_bundle():
        args += ["--secret", f"id=ca,src={bundle}"]
    started = time.monotonic()
    result = subprocess.run(
        ["podman", *args, "--file", str(ROOT / "Dockerfile"), str(ROOT)],
        env=podman.env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    build_seconds = time.monotonic() - started
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        pytest.fail(f"podman build failed:\n{tail}")
    size = int(podman.podman("image", "inspect", "--format", "{{.Size}}", IMAGE))
    return BuiltImage(IMAGE, base, size, base_seconds, build_seconds)
