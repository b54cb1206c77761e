"""The console as a hub: ``?host=NAME`` on every host page, decided by the guard, bound in forms."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.settings import AccessSettings
from hostwarden.fleet.target import Fleet
from hostwarden.storage.base import AuditEvent, AuditQuery
from hostwarden.storage.fleet import CertInfo, PendingEnrolment
from tests.fleet_fakes import fleet_of
from tests.web.conftest import (
    USER,
    USER_PASSWORD,
    Console,
    confirmation_form,
    fake_services,
    make_console,
    web_settings,
)
from tests.web.fakes import FakeEngine


def restarts(fleet: Fleet) -> dict[str, int]:
    found = {}
    for name in fleet.names():
        engine = fleet.get(name).engine
        assert isinstance(engine, FakeEngine)
        found[name] = engine.containers_by_name["web"].restarts
    return found


async def hub_console(
    clock: ManualClock, fleet: Fleet, **access: object
) -> AsyncIterator[tuple[Console, Fleet]]:
    settings = web_settings(access=AccessSettings(rate_limit=1000, **access))
    services = fake_services(settings)
    services.host_name, services.fleet = "hub", fleet
    console, core = await make_console(clock, settings, services=services)
    yield console, fleet
    await console.client.aclose()
    await core.close()


@pytest.fixture
async def hub(clock: ManualClock) -> AsyncIterator[tuple[Console, Fleet]]:
    async for pair in hub_console(clock, fleet_of("hub", "db1", "db2", "db3", down=("db3",))):
        yield pair


async def actions(web: Console) -> list[AuditEvent]:
    return await web.core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))


async def test_a_restart_on_a_chosen_host_names_it_and_acts_there_only(
    hub: tuple[Console, Fleet],
) -> None:
    web, fleet = hub
    await web.login_admin()
    question = await web.client.get("/containers/web/restart?host=db1")
    assert "Restart container web on host db1?" in question.text
    action, fields = confirmation_form(question.text)
    assert action == "/containers/web/restart?host=db1"
    done = await web.client.post(action, data=fields)
    assert done.status_code == 303
    assert done.headers["location"] == (
        "/containers/web?host=db1&done=Restarted%3A%20web%20on%20db1%20is%20now%20running."
    )
    assert restarts(fleet) == {"hub": 2, "db1": 3, "db2": 2, "db3": 2}
    [event] = await actions(web)
    assert event.detail["host"] == "db1" and event.detail["channel"] == "web"
    page = await web.client.get(done.headers["location"])
    assert "Restarted: web on db1 is now running." in page.text
    assert 'href="/containers/web/stop?host=db1"' in page.text


async def test_a_confirmation_for_one_host_cannot_be_replayed_for_another(
    hub: tuple[Console, Fleet],
) -> None:
    web, fleet = hub
    await web.login_admin()
    _, for_db1 = confirmation_form((await web.client.get("/containers/web/restart?host=db1")).text)
    _, for_db2 = confirmation_form((await web.client.get("/containers/web/restart?host=db2")).text)
    # db1's whole form posted to db2: its CSRF token is bound to db1.
    replay = await web.client.post("/containers/web/restart?host=db2", data=for_db1)
    assert replay.status_code == 403
    # db2's CSRF token with db1's confirmation: the question again, nothing done.
    mixed = {**for_db1, "csrf": for_db2["csrf"]}
    asked = await web.client.post("/containers/web/restart?host=db2", data=mixed)
    assert asked.status_code == 200 and "Restart container web on host db2?" in asked.text
    # Nor does the default host take a named host's confirmation.
    unnamed = await web.client.post("/containers/web/restart", data=for_db1)
    assert unnamed.status_code == 403
    assert restarts(fleet) == {"hub": 2, "db1": 2, "db2": 2, "db3": 2} and await actions(web) == []


async def test_the_picker_and_links_stay_on_the_chosen_host(hub: tuple[Console, Fleet]) -> None:
    web, _ = hub
    await web.login_admin()
    page = (await web.client.get("/containers?host=db2")).text
    assert '<option value="db2" selected>db2</option>' in page
    assert 'id="host-picker"' in page and 'action="/containers"' in page
    assert 'href="/host?host=db2"' in page and 'href="/containers/web?host=db2"' in page
    assert 'name="host" value="db2"' in page  # the filter form keeps the host
    assert "on db2</span>" in page and 'href="/hosts"' in page
    detail = (await web.client.get("/containers/web?host=db2")).text
    assert 'action="/containers"' in detail and "on host db2" in detail
    default = (await web.client.get("/containers")).text
    assert '<option value="hub" selected>hub</option>' in default and "?host=" not in default
    host = (await web.client.get("/host?host=db1")).text
    assert 'id="hostname">db1<' in host and 'href="/host?host=db1" id="reload"' in host
    images = (await web.client.get("/images?host=db1")).text
    assert 'href="/images?check=1&amp;host=db1"' in images
    # The header's logout form works from any host's page (its token is the session's own).
    out = await web.post_from(await web.client.get("/host?host=db2"), "/logout", {})
    assert out.status_code == 303 and out.headers["location"] == "/login"


async def test_hosts_page_shows_every_host_and_an_unreachable_one(
    hub: tuple[Console, Fleet], clock: ManualClock
) -> None:
    web, fleet = hub
    await web.login(USER, USER_PASSWORD)
    page = (await web.client.get("/hosts")).text
    rows = re.findall(r'<tr id="host-([a-z0-9-]+)">', page)
    assert rows == ["hub", "db1", "db2", "db3"]
    assert "42%" in page and "91%" in page and ">2 of 3<" in page
    assert (
        "the agent on db3 does not answer" in page and "not seen since the console started" in page
    )
    down = await web.client.get("/host?host=db3")
    assert down.status_code == 200 and "This host does not answer" in down.text
    assert "Not seen since the console started." in down.text
    db3 = fleet.get("db3")
    db3.down = False  # type: ignore[attr-defined]
    assert "Top processes" in (await web.client.get("/host?host=db3")).text
    db3.down = True  # type: ignore[attr-defined]
    clock.advance(600)
    again = (await web.client.get("/host?host=db3")).text
    assert "Last seen 10m ago (2026-01-01 00:00:00 UTC)." in again
    assert "last seen 10m ago" in (await web.client.get("/hosts")).text


async def test_a_user_granted_db1_only_is_refused_the_others_in_every_form(
    clock: ManualClock,
) -> None:
    async for web, _ in hub_console(
        clock, fleet_of("hub", "db1", "db2"), host_grants={USER: ["db1"]}
    ):
        await web.login(USER, USER_PASSWORD)
        for path in ("/host?host=db2", "/containers?host=db2", "/images?host=db2", "/host",
                     "/host?host=nosuch"):  # fmt: skip
            response = await web.client.get(path)
            assert response.status_code == 403 and "Access denied." in response.text, path
        assert (await web.client.get("/host?host=db1")).status_code == 200
        page = (await web.client.get("/hosts")).text
        assert re.findall(r'<tr id="host-([a-z0-9-]+)">', page) == ["db1"]
        assert 'id="host-picker"' not in page  # one host to choose from: no picker
        denied = await web.core.audit.query(AuditQuery(kind=Kind.ACCESS_DENIED))
        hosts = [str(e.detail["host"]) for e in denied if e.detail.get("reason") == "host"]
        assert sorted(hosts) == ["db2", "db2", "db2", "hub", "nosuch"]


async def test_unknown_and_hostile_host_names(hub: tuple[Console, Fleet]) -> None:
    web, _ = hub
    await web.login_admin()
    missing = await web.client.get("/host?host=nosuch")
    assert missing.status_code == 404 and "No such host." in missing.text
    for hostile in ("DB1", "<b>x</b>", "db1/../db2", "-db1", "d" * 40, "db1%00", "\u217eb1"):
        response = await web.client.get("/containers", params={"host": hostile})
        assert response.status_code == 400 and "That is not a host name." in response.text
        assert "<b>x</b>" not in response.text
    question = await web.client.get("/containers/web/restart", params={"host": "<b>"})
    assert question.status_code == 400


async def enrolled(web: Console, name: str, fingerprint: str) -> None:
    """A host record for ``name`` with a certificate of ``fingerprint``, as enrolment leaves."""
    store, now = web.core.store, web.clock.now()
    await store.hosts.remove(name)
    pending = PendingEnrolment(name, "h" * 64, "https://10.0.0.5:9443", now, now + timedelta(1))
    await store.enrolments.put(pending, now)
    cert = CertInfo(fingerprint, "01", now + timedelta(days=30))
    assert await store.enrolments.redeem("h" * 64, name, now, cert) is not None


async def test_a_confirmation_page_is_bound_to_the_host_enrolled_when_it_was_asked(
    hub: tuple[Console, Fleet],
) -> None:
    web, fleet = hub
    await enrolled(web, "db1", "a" * 64)
    await web.login_admin()
    action, fields = confirmation_form(
        (await web.client.get("/containers/web/restart?host=db1")).text
    )
    await enrolled(web, "db1", "b" * 64)  # removed, then enrolled again under its name
    asked = await web.client.post(action, data=fields)
    assert asked.status_code == 200 and "Restart container web on host db1?" in asked.text
    assert restarts(fleet)["db1"] == 2 and await actions(web) == []
    action, fields = confirmation_form(asked.text)  # asked of the host enrolled now: it acts
    assert (await web.client.post(action, data=fields)).status_code == 303
    assert restarts(fleet)["db1"] == 3


async def test_a_confirmation_page_is_decided_again_on_its_host_when_posted(
    clock: ManualClock,
) -> None:
    fleet = fleet_of("hub", "db1")
    pairs = hub_console(clock, fleet)
    web, _ = await anext(pairs)
    await web.login_admin()
    action, fields = confirmation_form(
        (await web.client.get("/containers/web/restart?host=db1")).text
    )
    web.core.guard.grants._grants = {"root": frozenset({"hub"})}  # db1 revoked meanwhile
    refused = await web.client.post(action, data=fields)
    assert refused.status_code == 403 and restarts(fleet)["db1"] == 2
    denied = await web.core.audit.query(AuditQuery(kind=Kind.ACCESS_DENIED))
    assert [(e.detail.get("host"), e.detail["reason"]) for e in denied] == [("db1", "host")]
    await pairs.aclose()
