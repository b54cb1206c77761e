"""The agent against a real container engine (podman), read and driven by the hub over TLS.

One podman service with its own storage for this module; each test gets a fresh container.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest

from hostwarden.containers.registry import UpdateState
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.errors import InvalidInput, NotFound
from hostwarden.fleet.agent import Agent, build_agent
from hostwarden.fleet.poller import FeedPoller
from hostwarden.fleet.remote import RemoteHost
from hostwarden.storage.memory import MemoryStore
from tests.containers.conftest import LOOP, wait_for_log
from tests.containers.podman import IMAGE, PodmanService
from tests.fleet.agent_kit import Pki, hostname, no_wait, running, server_context


@pytest.fixture(scope="module")
def fleet_podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanService]:
    service = PodmanService(tmp_path_factory.mktemp("fleet-podman"), own_storage=True)
    yield service
    service.stop()


@pytest.fixture
def client(fleet_podman: PodmanService) -> Iterator[docker.DockerClient]:
    engine = docker.DockerClient(base_url=fleet_podman.url, timeout=30)
    yield engine
    engine.close()


@pytest.fixture
def container(client: docker.DockerClient) -> Iterator[str]:
    name = f"hwagent-{secrets.token_hex(4)}"
    made = client.containers.run(IMAGE, ["sh", "-c", LOOP], name=name, detach=True)
    wait_for_log(made, "tick 1")
    yield name
    made.remove(force=True)


class Site:
    """A served agent and the hub's client for it."""

    def __init__(self, agent: Agent, host: RemoteHost, pki: Pki) -> None:
        self.agent = agent
        self.host = host
        self.hub = f"sha256:{pki.ca.client_fingerprint}"


async def _site(tmp_path: Path, url: str, read_only: bool) -> AsyncIterator[Site]:
    pki = Pki.make(tmp_path)
    files = pki.enrol("db1")
    context: ssl.SSLContext = server_context(files)
    settings = ContainerSettings(docker_url=url, timeout_seconds=30)
    agent = build_agent(
        files, context, containers=settings, read_only=read_only, watch=False, pin=pki.pin()
    )
    async with running(agent, context) as base:
        host = RemoteHost("db1", base, pki.hub_context(), hostname("db1"), sleep=no_wait)
        try:
            yield Site(agent, host, pki)
        finally:
            await host.close()


@pytest.fixture
async def site(tmp_path: Path, fleet_podman: PodmanService) -> AsyncIterator[Site]:
    async for made in _site(tmp_path, fleet_podman.url, read_only=False):
        yield made


@pytest.fixture
async def read_only_site(tmp_path: Path, fleet_podman: PodmanService) -> AsyncIterator[Site]:
    async for made in _site(tmp_path, fleet_podman.url, read_only=True):
        yield made


def started_at(client: docker.DockerClient, name: str) -> str:
    return str(client.containers.get(name).attrs["State"]["StartedAt"])


async def test_lists_reads_and_restarts_a_real_container(
    site: Site, container: str, client: docker.DockerClient
) -> None:
    engine = site.host.engine
    listed = {c.name: c for c in await engine.containers()}
    assert listed[container].state == "running" and listed[container].image == IMAGE
    details = await engine.details(container)
    assert details.summary.name == container and "while true" in details.command
    logs = await engine.logs(container, 2)
    assert len(logs.splitlines()) in (1, 2) and "tick" in logs
    before = started_at(client, container)
    restarted = await engine.restart(container)
    assert restarted.state == "running" and restarted.name == container
    assert started_at(client, container) != before
    [line] = site.agent.log.lines()
    assert (line["peer"], line["op"], line["target"], line["outcome"]) == (
        site.hub, "restart", container, "running",
    )  # fmt: skip


async def test_stop_and_start_go_to_the_engine_and_the_log(
    site: Site, container: str, client: docker.DockerClient
) -> None:
    stopped = await site.host.engine.stop(container)
    assert stopped.state in ("exited", "stopped")
    assert client.containers.get(container).status in ("exited", "stopped")
    started = await site.host.engine.start(container)
    assert started.state == "running"
    assert [(x["op"], x["outcome"]) for x in site.agent.log.lines()] == [
        ("stop", stopped.state),
        ("start", "running"),
    ]


async def test_a_missing_container_is_not_found_and_logged_as_failed(site: Site) -> None:
    with pytest.raises(NotFound):
        await site.host.engine.details("hw-no-such-container")
    with pytest.raises(NotFound):
        await site.host.engine.restart("hw-no-such-container")
    assert site.agent.log.lines()[-1]["outcome"] == "failed:not_found"


async def test_read_only_refuses_actions_whatever_the_hub_asks(
    read_only_site: Site, container: str, client: docker.DockerClient
) -> None:
    before = started_at(client, container)
    engine = read_only_site.host.engine
    for act in (engine.restart, engine.stop, engine.start):
        with pytest.raises(InvalidInput, match="read-only"):
            await act(container)
    assert started_at(client, container) == before
    assert client.containers.get(container).status == "running"
    outcomes = [(x["op"], x["outcome"]) for x in read_only_site.agent.log.lines()]
    assert outcomes == [(verb, "refused:read-only") for verb in ("restart", "stop", "start")]
    assert [c.name for c in await engine.containers() if c.name == container] == [container]
    assert (await read_only_site.host.version()).read_only


async def test_images_and_their_update_checks(site: Site) -> None:
    images = await site.host.engine.images()
    busybox = [i for i in images if IMAGE in i.tags]
    assert busybox and busybox[0].size > 0
    [update] = await site.host.image_updates(busybox)
    assert update.reference == IMAGE and update.state is UpdateState.UNKNOWN  # no registry
    assert [update] == await site.agent.host.image_updates(await site.agent.host.engine.images())
    assert await site.host.image_updates([]) == []


async def test_a_container_dying_on_the_agent_reaches_the_hub_naming_the_host(
    tmp_path: Path, fleet_podman: PodmanService, client: docker.DockerClient
) -> None:
    pki = Pki.make(tmp_path)
    files = pki.enrol("db3")
    context = server_context(files)
    settings = ContainerSettings(docker_url=fleet_podman.url, timeout_seconds=30)
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    agent = build_agent(files, context, containers=settings, clock=clock, pin=pki.pin())
    assert agent.follower is not None
    raised = asyncio.Event()
    keep = agent.ring.raise_alert

    async def spy(alert: Alert) -> None:
        await keep(alert)
        if "exited" in alert.title:
            raised.set()

    agent.ring.raise_alert = spy  # type: ignore[method-assign]
    core = AccessCore(MemoryStore(), clock=clock)
    poller = FeedPoller(core.alerts, clock)
    name = f"hwdies-{secrets.token_hex(4)}"
    async with running(agent, context) as base:
        host = RemoteHost("db3", base, pki.hub_context(), hostname("db3"), sleep=no_wait)
        try:
            await poller.poll(host)  # first contact
            await asyncio.wait_for(agent.follower.streaming.wait(), 30)
            client.containers.run(IMAGE, ["sh", "-c", "exit 3"], name=name, detach=True)
            await asyncio.wait_for(raised.wait(), 30)
            found = await poller.poll(host)
        finally:
            await host.close()
            client.containers.get(name).remove(force=True)
    dying = [a for a in found if name in a.title + a.detail]
    assert dying and all(a.host == "db3" for a in dying)
    texts = [row.text for row in await core.store.outbox.due(clock.now(), 100)]
    assert any(name in t and "\nHost: db3\n" in t for t in texts)
