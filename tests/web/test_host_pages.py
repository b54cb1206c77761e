"""The host, containers, container and images pages (fixed host readings, a fake engine)."""

from __future__ import annotations

import html
import re

from hostwarden.containers.registry import RegistryChecker
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import ManualClock
from hostwarden.web.services import ConsoleServices
from hostwarden.web.settings import WebSettings
from tests.doubles import Registry, serving
from tests.web.conftest import USER, USER_PASSWORD, Console, make_console, web_settings
from tests.web.fakes import FakeContainer, FakeEngine, FixedHost, sample_engine, with_image


def engine_of(web: Console) -> FakeEngine:
    engine = web.client._transport.app.state.console.services.engine  # type: ignore[attr-defined]
    assert isinstance(engine, FakeEngine)
    return engine


def text_of(page: str) -> str:
    """The visible text of ``page``'s main part, tags removed, one space between words."""
    main = page.split("<main>", 1)[1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())


async def test_the_host_page_shows_the_status_figures_disks_network_and_processes(
    web: Console,
) -> None:
    await web.login(USER, USER_PASSWORD)  # host.view is a user's action, like the bot's /status
    page = await web.client.get("/host")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "Host test-host-01" in shown
    assert "Up 1d 2h 3m" in shown
    assert "42.5% · 2 cores · load 0.61 0.52 0.40" in shown
    assert "37.5% · 3.0 GiB of 8.0 GiB" in shown
    assert "Package id 0 55 °C (high 85 °C)" in shown
    assert "/ 91.0% 9.0 GiB 100.0 GiB" in shown
    assert "eth0 up 192.0.2.10 5.0 MiB 7.0 GiB 0 / 3" in shown
    assert "100 proc-0 root 10.0% 1.0%" in shown
    # Refreshed without script: a meta refresh (allowed by the CSP) and a reload link.
    assert '<meta http-equiv="refresh" content="30">' in page.text
    assert 'href="/host" id="reload"' in page.text
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text


async def test_the_containers_page_lists_state_health_image_uptime_restarts_and_filters(
    web: Console,
) -> None:
    await web.login_admin()
    page = await web.client.get("/containers")
    rows = re.findall(r"<tr>\s*<td>(.*?)</tr>", page.text, re.S)
    cells = [text_of("<main>" + row) for row in rows]
    assert cells == [
        "backup-job exited - restic/restic:0.17 - 0",
        "web running healthy nginx:1.27 3h 0m 2",
        "worker running - python:3.11-slim 3h 0m 0",
    ]
    assert "3 of 3 containers" in page.text
    by_name = await web.client.get("/containers?q=WEB")
    assert "1 of 3 containers" in by_name.text and ">web</a>" in by_name.text
    assert "worker" not in text_of(by_name.text).replace("Containers", "")
    by_image = await web.client.get("/containers?q=restic")
    assert "1 of 3" in by_image.text and "backup-job" in by_image.text
    running = await web.client.get("/containers?state=running")
    assert "2 of 3" in running.text and "backup-job" not in running.text
    odd = await web.client.get("/containers?state=<b>&q=" + "x" * 500)
    assert odd.status_code == 200 and "No containers match." in odd.text


async def test_a_user_sees_the_list_but_not_a_container_its_logs_or_its_actions(
    web: Console,
) -> None:
    await web.login(USER, USER_PASSWORD)
    listing = await web.client.get("/containers")
    assert listing.status_code == 200 and "web" in listing.text
    assert 'href="/containers/web"' not in listing.text  # no link to an admin page
    for path in ("/containers/web", "/containers/web/restart"):
        assert (await web.client.get(path)).status_code == 403, path
    assert (await web.client.get("/images")).status_code == 200


async def test_one_container_hides_env_values_and_pages_its_cleaned_logs(web: Console) -> None:
    await web.login_admin()
    page = await web.client.get("/containers/web")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "TZ UTC" in shown and "API_TOKEN (hidden)" in shown
    assert "s3cr3t" not in page.text
    assert "Restarts 2" in shown and "Health healthy" in shown
    assert "Command nginx --password=***" in shown  # a secret on the command line is masked
    logs = re.search(r'<pre id="log-lines">(.*?)</pre>', page.text, re.S)
    assert logs is not None
    lines = html.unescape(logs.group(1)).splitlines()
    # The newest 50: lines 72-120 and the last one, escapes stripped and the password masked.
    assert lines[0] == "line 72 request ok" and lines[-1] == "db password=*** user=app"
    assert len(lines) == 50 and "\x1b" not in page.text and "hunter2" not in page.text
    assert 'href="/containers/web?page=2" id="older"' in page.text
    older = await web.client.get("/containers/web?page=2")
    lines = html.unescape(re.findall(r'<pre id="log-lines">(.*?)</pre>', older.text, re.S)[0])
    assert lines.splitlines()[0] == "line 22 request ok" and "line 71" in lines
    assert "line 72 " not in lines and 'id="newer"' in older.text
    last = await web.client.get("/containers/web?page=3")
    assert "line 1 request ok" in last.text and 'id="older"' not in last.text
    for page_number in ("0", "-1", "abc", "99999999", "1e3"):
        assert (await web.client.get(f"/containers/web?page={page_number}")).status_code == 200


async def test_unknown_and_invalid_containers_and_a_dead_engine(web: Console) -> None:
    await web.login_admin()
    missing = await web.client.get("/containers/nosuch")
    assert missing.status_code == 404 and "no such container" in missing.text
    invalid = await web.client.get("/containers/-bad")
    assert invalid.status_code == 400 and "container names are" in invalid.text
    engine_of(web).down = True
    for path in ("/containers", "/containers/web", "/images"):
        page = await web.client.get(path)
        assert page.status_code == 200, path
        assert "is unreachable" in page.text, path


async def test_images_with_the_registry_update_check(clock: ManualClock) -> None:
    registry = Registry()
    async with serving(registry) as url:
        settings = web_settings()
        services = ConsoleServices.build(
            settings,
            host=FixedHost(),
            engine=with_image(sample_engine(), "registry.test/team/app:1.2", "sha256:" + "a" * 64),
            registry=RegistryChecker(
                ContainerSettings(registries={"registry.test": url}, registry_timeout_seconds=5)
            ),
        )
        web, core = await make_console(clock, settings, services=services)
        await web.login_admin()
        page = await web.client.get("/images")
        assert "registry.test/team/app:1.2" in page.text and "187.0 MiB" in page.text
        assert "1 untagged image (3.0 MiB)" in page.text and "ba9876543210" not in page.text
        listed = await web.client.get("/images?untagged=1")
        assert "ba9876543210" in listed.text and "&lt;untagged&gt;" in listed.text
        assert registry.requests == []  # the registries are asked only on request
        registry.digests[("team/app", "1.2")] = "sha256:" + "b" * 64
        checked = await web.client.get("/images?check=1")
        assert "registry.test/team/app:1.2: update available" in checked.text
        registry.digests[("team/app", "1.2")] = "sha256:" + "a" * 64
        again = await web.client.get("/images?check=1")
        assert "registry.test/team/app:1.2: up to date" in again.text
        await web.client.aclose()
        await core.close()


async def test_a_container_named_like_markup_is_text(clock: ManualClock) -> None:
    engine = FakeEngine().add(FakeContainer("x", image="<img src=x onerror=alert(1)>"))
    settings = web_settings(web=WebSettings())
    web, core = await make_console(clock, settings, services=ConsoleServices.build(
        settings, host=FixedHost(hostname="<b>host</b>"), engine=engine))  # fmt: skip
    await web.login_admin()
    for path in ("/containers", "/containers/x", "/host"):
        page = (await web.client.get(path)).text.split("<main>", 1)[1]
        assert "<img src=x" not in page and "<b>host" not in page, path
    await web.client.aclose()
    await core.close()
