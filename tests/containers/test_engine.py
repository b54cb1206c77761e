"""The engine wrapper against a real engine (podman's Docker API): read, redact, manage."""

from __future__ import annotations

import docker
import pytest

from hostwarden.containers.engine import HIDDEN, ContainerEngine, check_container_name, parse_time
from hostwarden.containers.settings import ContainerSettings
from hostwarden.errors import InvalidInput, NotFound, Unavailable
from tests.containers.podman import IMAGE, PodmanService


@pytest.fixture
def engine(podman: PodmanService) -> ContainerEngine:
    return ContainerEngine(ContainerSettings(docker_url=podman.url, timeout_seconds=30))


async def test_lists_and_describes_with_env_values_hidden(
    engine: ContainerEngine, web_container: str
) -> None:
    listed = {c.name: c for c in await engine.containers()}
    assert listed[web_container].state == "running"
    assert listed[web_container].image == IMAGE
    assert listed[web_container].started_at is not None
    details = await engine.details(web_container)
    env = dict(details.environment)
    assert env["TZ"] == "UTC"
    assert env["API_TOKEN"] == HIDDEN
    assert "s3cr3t" not in repr(details)


async def test_logs_come_without_escapes_or_secrets(
    engine: ContainerEngine, web_container: str
) -> None:
    text = await engine.logs(web_container, 50)
    assert "starting" in text and "\x1b" not in text
    assert "password=***" in text and "hunter2" not in text
    assert "tick 0" in text
    assert len((await engine.logs(web_container, 1)).splitlines()) == 1


async def test_stop_start_restart_really_act(
    engine: ContainerEngine, web_container: str, engine_client: docker.DockerClient
) -> None:
    stopped = await engine.stop(web_container)
    assert stopped.state == "exited"
    assert engine_client.containers.get(web_container).status == "exited"
    started = await engine.start(web_container)
    assert started.state == "running"
    before = started.started_at
    restarted = await engine.restart(web_container)
    assert restarted.state == "running"
    assert (
        restarted.started_at is not None and before is not None and restarted.started_at >= before
    )


async def test_images_carry_their_repo_digests(engine: ContainerEngine) -> None:
    images = await engine.images()
    [ours] = [i for i in images if IMAGE in i.tags]
    assert ours.repo_digests and ours.repo_digests[0].startswith(
        "localhost/hostwarden-test-busybox@sha256:"
    )


async def test_clear_errors(engine: ContainerEngine) -> None:
    with pytest.raises(NotFound):
        await engine.details("no-such-container-here")
    with pytest.raises(InvalidInput):
        await engine.logs("../etc/passwd", 5)
    down = ContainerEngine(
        ContainerSettings(docker_url="unix:///nonexistent/engine.sock", timeout_seconds=2)
    )
    with pytest.raises(Unavailable, match="unreachable"):
        await down.containers()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05.123456789Z", "2026-01-02T03:04:05.123456+00:00"),
        ("2026-01-02T03:04:05+02:00", "2026-01-02T01:04:05+00:00"),
        ("2026-01-02T03:04:05.5-07:00", "2026-01-02T10:04:05.500000+00:00"),
        ("0001-01-01T00:00:00Z", None),  # the engine's "never"
        ("", None),
        ("yesterday", None),
    ],
)
def test_engine_times_parse_with_the_standard_library(text: str, expected: str | None) -> None:
    parsed = parse_time(text)
    assert (parsed.isoformat() if parsed else None) == expected


@pytest.mark.parametrize("name", ["web\n", "web\n../x", "", "-web", "a" * 129, "we b"])
def test_container_names_are_checked_whole(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_container_name(name)
