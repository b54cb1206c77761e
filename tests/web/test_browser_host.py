"""The host and container pages in Chromium: this host's figures, a real podman container
restarted from the console after a fresh code and a confirmation, the refusals, and a
screenshot of every page (artifacts/screenshots/)."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest
from playwright.async_api import Page

from hostwarden.containers.actions import host_label
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.settings import AccessSettings
from hostwarden.storage.base import AuditQuery
from tests.containers.conftest import engine_client, podman, web_container
from tests.containers.podman import IMAGE, PodmanService
from tests.doubles import Registry, serving
from tests.web.conftest import ADMIN, USER, USER_PASSWORD, web_settings
from tests.web.test_browser import Site, log_in, open_site, shot, site

# Fixtures, shared with tests/containers and test_browser.py.
__all__ = ["engine_client", "podman", "site", "web_container"]
SLEEP = "trap 'exit 0' TERM; while true; do sleep 1; done"
HOST = host_label(web_settings().monitor)  # monitor.host_label: this machine's name by default


@pytest.fixture
async def registry() -> AsyncIterator[Registry]:
    double = Registry()
    async with serving(double):
        yield double


@pytest.fixture
async def podman_site(
    tmp_path: Path, clock: ManualClock, podman: PodmanService, registry: Registry
) -> AsyncIterator[Site]:
    """The console over the podman engine; the clock at the real time (containers' uptimes)."""
    clock.set(datetime.now(UTC).replace(microsecond=0))
    containers = ContainerSettings(
        docker_url=podman.url, timeout_seconds=30, registries={"localhost": registry.url}
    )
    async with open_site(tmp_path, clock, containers) as site:
        yield site


def started_at(client: docker.DockerClient, name: str) -> str:
    return str(client.containers.get(name).attrs["State"]["StartedAt"])


async def code_step(site: Site, page: Page, code: str | None = None) -> None:
    await page.wait_for_url("**/login/code**")
    await page.fill("#code", code or site.code())
    await page.click("#submit")


async def test_the_host_page_shows_this_hosts_figures(site: Site) -> None:
    page = await site.page()
    await log_in(site, page)
    await page.goto(site.url + "/host")
    assert await page.inner_text("#hostname") == socket.gethostname()
    assert re.fullmatch(
        r"\d+\.\d% · \d+ cores · load [\d.]+ [\d.]+ [\d.]+", await page.inner_text("#cpu")
    )
    memory = await page.inner_text("#memory")
    assert re.fullmatch(r"\d+\.\d% · [\d.]+ \wiB of [\d.]+ \wiB", memory)
    assert await page.locator("#top-cpu tr").count() > 1
    assert await page.locator("#network tr").count() > 1
    refresh = page.locator('meta[http-equiv="refresh"]')
    assert await refresh.get_attribute("content") == "30"
    await shot(page, "host")
    assert site.dialogs == []


async def test_a_real_container_restarted_after_a_fresh_code_and_a_confirmation(
    podman_site: Site, web_container: str, engine_client: docker.DockerClient
) -> None:
    site = podman_site
    page = await site.page()
    await log_in(site, page)
    site.clock.advance(601)  # the login's code is stale: the container page asks for a new one
    await page.goto(site.url + "/containers")
    await page.click(f"#containers-table a:text-is('{web_container}')")
    await page.wait_for_url("**/login/code**")
    assert "This page needs a fresh code." in await page.inner_text("main")
    await shot(page, "step-up")
    await code_step(site, page)
    await page.wait_for_url(f"**/containers/{web_container}")
    before = started_at(engine_client, web_container)
    await page.click("#restart")
    question = f"Restart container {web_container} on host {HOST}?"
    assert await page.inner_text("#question") == question
    assert started_at(engine_client, web_container) == before  # asking changed nothing
    await shot(page, "confirm-restart")
    await page.click("#confirm")
    await page.wait_for_url(f"**/containers/{web_container}?done=*")
    assert await page.inner_text("#notice") == f"Restarted: {web_container} is now running."
    after = started_at(engine_client, web_container)
    assert after != before and engine_client.containers.get(web_container).status == "running"
    await shot(page, "restarted")

    await page.goto(site.url + "/audit?kind=container.action")
    row = await page.inner_text("#audit-table tr:nth-child(2)")
    assert "Container action" in row and f"user:{ADMIN}" in row
    for part in ("verb=restart", f"container={web_container}", "channel=web", f"host={HOST}",
                 "outcome=running"):  # fmt: skip
        assert part in row, part
    await shot(page, "audit-container-action")

    # Ten minutes later the code is stale again: a wrong code restarts nothing.
    site.clock.advance(601)
    await page.goto(f"{site.url}/containers/{web_container}/restart")
    await code_step(site, page, "000000")
    assert await page.inner_text("#error") == "That code was not accepted."
    assert started_at(engine_client, web_container) == after
    [event] = await site.core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))
    assert event.detail["outcome"] == "running"
    assert site.dialogs == []


async def test_over_the_rate_limit_the_browser_gets_a_page_saying_when_to_retry(
    tmp_path: Path, clock: ManualClock
) -> None:
    limits = AccessSettings(rate_limit=3, rate_window_seconds=10)
    async with open_site(tmp_path, clock, access=limits) as site:
        page = await site.page()
        await page.goto(site.url + "/login")
        await page.fill("#username", USER)
        await page.fill("#password", USER_PASSWORD)
        await page.click("#submit")
        await page.wait_for_url("**/account")  # one guard decision
        for _ in range(2):
            await page.goto(site.url + "/containers")
        response = await page.goto(site.url + "/containers")
        assert response is not None and response.status == 429
        assert (await response.all_headers())["retry-after"] == "10"
        assert "Wait 10 seconds, then try again." in await page.inner_text("#slow-down")
        await shot(page, "slow-down")
        site.clock.advance(11)
        await page.click("#retry")
        assert await page.inner_text("h1") == "Containers"


async def test_a_user_lands_on_their_account_and_is_refused_the_restart(
    podman_site: Site, web_container: str, engine_client: docker.DockerClient
) -> None:
    site = podman_site
    before = started_at(engine_client, web_container)
    page = await site.page()
    await page.goto(site.url + "/login")
    await page.fill("#username", USER)
    await page.fill("#password", USER_PASSWORD)
    await page.click("#submit")
    await page.wait_for_url("**/account")
    await shot(page, "account-user")
    await page.goto(site.url + "/containers")
    assert web_container in await page.inner_text("#containers-table")
    assert await page.locator(f"a[href='/containers/{web_container}']").count() == 0
    response = await page.goto(f"{site.url}/containers/{web_container}/restart")
    assert response is not None and response.status == 403
    assert "Access denied." in await page.inner_text("main")
    await shot(page, "refused")
    assert started_at(engine_client, web_container) == before
    assert await site.core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION)) == []


async def test_screenshots_of_every_page(
    podman_site: Site, web_container: str, registry: Registry, engine_client: docker.DockerClient
) -> None:
    site = podman_site
    [image] = [i for i in engine_client.images.list() if IMAGE in i.tags]
    registry.digests[("hostwarden-test-busybox", "latest")] = image.attrs["RepoDigests"][0].split(
        "@"
    )[1]
    # Two more for the list: a second running one and a job that ended.
    extra = []
    try:
        for suffix, script in (("worker", SLEEP), ("job", "exit 0")):
            extra.append(
                engine_client.containers.run(
                    IMAGE, ["sh", "-c", script], name=f"{web_container}-{suffix}", detach=True
                )
            )
        await _every_page(site, web_container)
    finally:
        for container in extra:
            container.remove(force=True)


async def _every_page(site: Site, web_container: str) -> None:
    page = await site.page()
    await page.goto(site.url + "/login")
    await shot(page, "login")
    await page.fill("#username", ADMIN)
    await page.fill("#password", "not the password")
    await page.click("#submit")
    await page.wait_for_selector("#error")
    await page.wait_for_function("document.activeElement && document.activeElement.id")
    assert await page.evaluate("document.activeElement.id") == "password"  # the name kept
    assert await page.input_value("#username") == ADMIN
    await shot(page, "login-failed")
    await log_in(site, page)
    await page.wait_for_selector("text=Security dashboard")
    pages = {
        "dashboard": "/", "host": "/host", "containers": "/containers",
        "container": f"/containers/{web_container}", "images": "/images?check=1",
        "containers-filtered": f"/containers?q={web_container}&state=running",
        "audit": "/audit", "users": "/users", "user": f"/users/{USER}",
        "confirm-lock": f"/users/{USER}/lock", "sessions": "/sessions",
        "confirm-revoke": "/sessions/revoke?handle=%2A", "blocks": "/blocks",
        "settings": "/settings", "account": "/account",
    }  # fmt: skip
    for name, path in pages.items():
        response = await page.goto(site.url + path)
        assert response is not None and response.status == 200, name
        headers = await response.all_headers()
        assert "script-src 'none'" in headers["content-security-policy"], name
        await shot(page, name)
    assert await page.inner_text("#menu [aria-current=page]") == "My account"
    # The audit filter fits on one line at 1280 px.
    await page.goto(site.url + "/audit")
    tops = await page.eval_on_selector_all(
        "#audit-filter > div", "items => items.map(i => i.getBoundingClientRect().bottom)"
    )
    assert len(tops) == 6 and max(tops) - min(tops) < 8, tops
    await page.goto(site.url + "/images?check=1")
    assert "localhost/hostwarden-test-busybox:latest: up to date" in await page.inner_text("main")
    assert site.dialogs == []
