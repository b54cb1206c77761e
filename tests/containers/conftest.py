"""Fixtures for tests against the real engine (podman) and local HTTP doubles of registries."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import docker
import pytest
from docker.models.containers import Container

from tests.containers.podman import IMAGE, PodmanService

LOOP = "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanService]:
    service = PodmanService(tmp_path_factory.mktemp("podman"), own_storage=True)
    yield service
    service.stop()


@pytest.fixture
def engine_client(podman: PodmanService) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=podman.url, timeout=30)
    yield client
    client.close()


@pytest.fixture
def web_container(engine_client: docker.DockerClient) -> Iterator[str]:
    """A running container that prints a colour code, a secret, then a tick a second."""
    name = f"hwtest-{secrets.token_hex(4)}"
    script = r"printf '\033[31mstarting\033[0m\n'; echo 'db password=hunter2 user=app'; " + LOOP
    container = engine_client.containers.run(
        IMAGE,
        ["sh", "-c", script],
        name=name,
        detach=True,
        environment={"TZ": "UTC", "API_TOKEN": "s3cr3t-value"},
    )
    wait_for_log(container, "tick 0")
    yield name
    container.remove(force=True)


def wait_for_log(container: Container, text: str, seconds: float = 30) -> None:
    """Wait (bounded) until the container has printed ``text``: its output is its own business."""
    deadline = time.monotonic() + seconds
    while text.encode() not in container.logs():
        if time.monotonic() > deadline:
            raise AssertionError(f"the container never printed {text!r}")
        time.sleep(0.05)


@pytest.fixture
def image_name() -> str:
    return IMAGE
