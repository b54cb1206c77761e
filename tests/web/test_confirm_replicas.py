"""A console question is answered once: a second POST of its page acts on nothing, whether it
goes to the same console or to a second replica on the same database."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr

from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.sql import SqlStore
from hostwarden.web.actions import web_policy
from hostwarden.web.app import create_app
from hostwarden.web.settings import WebSettings
from tests.web.conftest import (
    UA,
    Console,
    confirmation_form,
    fake_services,
    make_console,
    web_settings,
)
from tests.web.test_host_pages import engine_of


async def test_the_same_page_posted_twice_acts_once(web: Console) -> None:
    await web.login_admin()
    engine = engine_of(web)
    action, fields = confirmation_form((await web.client.get("/containers/web/restart")).text)
    assert (await web.client.post(action, data=fields)).status_code == 303
    again = await web.client.post(action, data=fields)
    assert again.status_code == 200 and "Restart container web" in again.text
    assert engine.containers_by_name["web"].restarts == 3  # 2 before, one from the console
    # A question asked a second later is a new one (within one second it is the same): it acts.
    web.clock.advance(1)
    assert (await web.confirm("/containers/web/restart")).status_code == 303
    assert engine.containers_by_name["web"].restarts == 4


async def test_a_question_asked_on_one_replica_is_answered_once_across_both(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = web_settings(web=WebSettings(secret_key=SecretStr("k" * 40)))
    url = str(tmp_path / "console.db")
    a, core_a = await make_console(clock, settings, SqlStore(url))
    engine = engine_of(a)
    core_b = AccessCore(SqlStore(url), settings.core(), clock, web_policy())
    await core_b.start()
    app_b = create_app(core_b, settings, fake_services(settings, engine))
    b = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_b, client=("203.0.113.5", 40000)),
        base_url="https://testserver",
        headers={"user-agent": UA},
    )
    try:
        await a.login_admin()
        b.cookies = a.client.cookies  # the load balancer sends the same browser to B
        action, fields = confirmation_form((await a.client.get("/containers/web/restart")).text)
        done = await b.post(action, data=fields)
        assert done.status_code == 303, done.text
        for client in (a.client, b):  # pressed again, on either replica: nothing more happens
            again = await client.post(action, data=fields)
            assert again.status_code == 200 and "Restart container web" in again.text
        assert engine.containers_by_name["web"].restarts == 3  # 2 before, one from the console
        assert len(await core_a.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))) == 1
    finally:
        await b.aclose()
        await a.client.aclose()
        await core_b.close()
        await core_a.close()
