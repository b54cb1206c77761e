"""The container pages and a restart from the console on a real engine (podman)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import docker
import pytest

from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.storage.base import AuditQuery
from hostwarden.web.services import ConsoleServices
from tests.containers.conftest import engine_client, podman, web_container
from tests.containers.podman import PodmanService
from tests.web.conftest import ADMIN, HOST_NAME, Console, make_console, web_settings
from tests.web.fakes import FixedHost

__all__ = ["engine_client", "podman", "web_container"]  # fixtures, shared with tests/containers


@pytest.fixture
async def real(podman: PodmanService, clock: ManualClock) -> AsyncIterator[Console]:
    settings = web_settings(containers=ContainerSettings(docker_url=podman.url, timeout_seconds=30))
    services = ConsoleServices.build(
        settings, host=FixedHost(), engine=ContainerEngine(settings.containers)
    )
    services.host_name = HOST_NAME
    web, core = await make_console(clock, settings, services=services)
    yield web
    await services.close()
    await web.client.aclose()
    await core.close()


async def test_details_and_logs_of_a_real_container_are_cleaned(
    real: Console, web_container: str
) -> None:
    await real.login_admin()
    listing = await real.client.get(f"/containers?q={web_container}")
    assert f">{web_container}</a>" in listing.text and "running" in listing.text
    page = await real.client.get(f"/containers/{web_container}")
    assert page.status_code == 200
    assert "TZ</code></th><td><code>UTC" in page.text
    assert "API_TOKEN</code></th><td><code>(hidden)" in page.text and "s3cr3t" not in page.text
    [logs] = re.findall(r'<pre id="log-lines">(.*?)</pre>', page.text, re.S)
    text = html.unescape(logs)
    assert "starting" in text and "\x1b" not in page.text and "[31m" not in text
    assert "password=***" in text and "hunter2" not in page.text and "tick 0" in text


async def test_a_real_restart_from_the_console_is_audited(
    real: Console, web_container: str, engine_client: docker.DockerClient
) -> None:
    before = engine_client.containers.get(web_container).attrs["State"]["StartedAt"]
    await real.login_admin()
    done = await real.confirm(f"/containers/{web_container}/restart")
    assert done.status_code == 303, done.text
    after = engine_client.containers.get(web_container)
    assert after.status == "running" and after.attrs["State"]["StartedAt"] != before
    [event] = await real.core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))
    assert event.actor == f"user:{ADMIN}"
    assert event.detail == {
        "verb": "restart", "container": web_container, "channel": "web", "host": HOST_NAME,
        "outcome": "running",
    }  # fmt: skip
