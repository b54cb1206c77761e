"""Start, stop and restart from the console: admin, fresh code, a question, CSRF, the audit."""

from __future__ import annotations

import pytest

from hostwarden.containers.actions import host_label, manage_container
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Role
from hostwarden.core.policy import ActionRule
from hostwarden.errors import InvalidInput, Unavailable
from hostwarden.host.thresholds import MonitorSettings
from hostwarden.storage.base import AuditEvent, AuditQuery
from hostwarden.web.actions import web_policy
from hostwarden.web.services import ConsoleServices
from tests.bot.conftest import ADMIN_ID, bot_settings, make_harness
from tests.web.conftest import (
    ADMIN,
    HOST_NAME,
    USER,
    USER_PASSWORD,
    Console,
    confirmation_form,
    make_console,
    web_settings,
)
from tests.web.fakes import FakeEngine, sample_engine
from tests.web.test_host_pages import engine_of


async def actions(web: Console) -> list[AuditEvent]:
    return await web.core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))


async def test_a_restart_asks_naming_container_and_host_then_acts_once_audited(
    web: Console,
) -> None:
    await web.login_admin()
    engine = engine_of(web)
    question = await web.client.get("/containers/web/restart")
    assert question.status_code == 200
    assert f"Restart container web on host {HOST_NAME}?" in question.text
    assert "State now</th><td>running" in question.text and "nginx:1.27" in question.text
    assert engine.containers_by_name["web"].restarts == 2 and await actions(web) == []

    action, fields = confirmation_form(question.text)
    assert action == "/containers/web/restart"
    # The CSRF token alone does not act: the POST gets the question again.
    asked = await web.client.post(action, data={"csrf": fields["csrf"]})
    assert asked.status_code == 200 and "Restart container web" in asked.text
    # Nor does the confirmation of another question (stop web) or of another container.
    stop = confirmation_form((await web.client.get("/containers/web/stop")).text)[1]
    assert (await web.client.post(action, data=stop)).status_code == 200
    worker = confirmation_form((await web.client.get("/containers/worker/restart")).text)[1]
    assert (await web.client.post(action, data=worker)).status_code == 200
    assert engine.containers_by_name["web"].restarts == 2 and await actions(web) == []

    done = await web.client.post(action, data=fields)
    assert done.status_code == 303
    assert (
        done.headers["location"] == "/containers/web?done=Restarted%3A%20web%20is%20now%20running."
    )
    assert engine.containers_by_name["web"].restarts == 3
    [event] = await actions(web)
    assert event.actor == f"user:{ADMIN}"
    assert event.detail == {
        "verb": "restart", "container": "web", "channel": "web", "host": HOST_NAME,
        "outcome": "running",
    }  # fmt: skip
    page = await web.client.get(done.headers["location"])
    assert "Restarted: web is now running." in page.text


async def test_a_confirmation_page_left_open_too_long_acts_on_nothing(web: Console) -> None:
    await web.login_admin()
    engine = engine_of(web)
    action, fields = confirmation_form((await web.client.get("/containers/web/restart")).text)
    web.clock.advance(121)  # the bot's buttons live 120 s; so do the console's questions
    again = await web.client.post(action, data=fields)
    assert again.status_code == 200 and "Restart container web" in again.text
    forged = {**fields, "asked": str(int(web.clock.now().timestamp()))}  # a newer time, old token
    assert (await web.client.post(action, data=forged)).status_code == 200
    assert engine.containers_by_name["web"].restarts == 2 and await actions(web) == []


async def test_stop_and_start_and_a_failure_is_audited_as_failed(web: Console) -> None:
    await web.login_admin()
    engine = engine_of(web)
    await web.confirm("/containers/web/stop")
    assert engine.containers_by_name["web"].state == "exited"
    await web.confirm("/containers/web/start")
    assert engine.containers_by_name["web"].state == "running"
    question = await web.client.get("/containers/web/restart")
    engine.down = True
    action, fields = confirmation_form(question.text)
    failed = await web.client.post(action, data=fields)
    assert failed.status_code == 400 and "unreachable" in failed.text
    events = await actions(web)
    assert [(e.detail["verb"], e.detail["outcome"]) for e in reversed(events)] == [
        ("stop", "exited"), ("start", "running"), ("restart", "failed"),
    ]  # fmt: skip
    assert events[0].detail["error"] == "unavailable"


async def test_without_a_fresh_code_the_step_up_page_comes_first(web: Console) -> None:
    await web.login_admin()
    question = await web.client.get("/containers/web/restart")
    action, fields = confirmation_form(question.text)
    web.clock.advance(601)  # the code is stale now
    refused = await web.client.post(action, data=fields)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login/code")
    step_up = await web.client.get("/containers/web/restart")
    assert step_up.headers["location"] == "/login/code?next=/containers/web/restart"
    assert engine_of(web).containers_by_name["web"].restarts == 2 and await actions(web) == []
    done = await web.post(
        "/login/code", {"code": web.code(ADMIN), "next": "/containers/web/restart"}, "/login/code"
    )
    assert done.headers["location"] == "/containers/web/restart"
    await web.confirm("/containers/web/restart")  # the new session's question
    assert engine_of(web).containers_by_name["web"].restarts == 3


async def test_a_user_is_refused_every_step(web: Console) -> None:
    await web.login(USER, USER_PASSWORD)
    for verb in ("start", "stop", "restart"):
        assert (await web.client.get(f"/containers/web/{verb}")).status_code == 403
        token = await web.csrf("/account")
        posted = await web.client.post(f"/containers/web/{verb}", data={"csrf": token})
        assert posted.status_code == 403
    assert engine_of(web).containers_by_name["web"].restarts == 2 and await actions(web) == []
    denied = await web.core.audit.query(AuditQuery(kind=Kind.ACCESS_DENIED))
    assert {e.detail["action"] for e in denied} == {"containers.manage"}


async def test_a_forged_form_and_odd_names_or_verbs_act_on_nothing(web: Console) -> None:
    await web.login_admin()
    forged = await web.client.post("/containers/web/restart", data={"confirm": "0" * 64})
    assert forged.status_code == 403
    for path in ("/containers/web/kill", "/containers/web/Restart"):
        assert (await web.client.get(path)).status_code == 404, path
    assert (await web.client.get("/containers/-x/restart")).status_code == 400
    assert (await web.client.get("/containers/nosuch/restart")).status_code == 404
    assert engine_of(web).containers_by_name["web"].restarts == 2 and await actions(web) == []


async def test_the_console_asks_the_guard_for_the_bots_action_names(clock: ManualClock) -> None:
    # One policy for both front ends: make containers.manage a user's action, without 2FA,
    # and the console lets a user restart; the console holds no rule of its own.
    policy = web_policy().with_rules(ActionRule("containers.manage", Role.USER))
    web, core = await make_console(clock, policy=policy)
    await web.login(USER, USER_PASSWORD)
    await web.confirm("/containers/worker/restart")
    [event] = await actions(web)
    assert event.actor == f"user:{USER}" and event.detail["container"] == "worker"
    await web.client.aclose()
    await core.close()


async def test_the_bot_and_the_console_record_the_same_event(
    clock: ManualClock, web: Console
) -> None:
    harness, core = await make_harness(bot_settings(), clock)
    harness.app.services.engine = sample_engine()
    secret = await harness.enrol(ADMIN_ID)
    await harness.say(ADMIN_ID, "/blocked")  # asks for a code: a fresh 2FA for the bot
    await harness.say(ADMIN_ID, harness.code(secret))
    await harness.say(ADMIN_ID, "/restart web")
    [sent] = harness.session.named("SendMessage")
    ok = sent.reply_markup.inline_keyboard[0][0].callback_data  # type: ignore[union-attr]
    assert ok is not None
    await harness.press(ADMIN_ID, ok)
    [from_bot] = await core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))
    await core.close()

    services = web.client._transport.app.state.console.services  # type: ignore[attr-defined]
    services.host_name = from_bot.detail["host"]  # the bot's monitor.host_label
    await web.login_admin()
    await web.confirm("/containers/web/restart")
    [from_web] = await actions(web)
    assert from_bot.actor == f"tg:{ADMIN_ID}" and from_web.actor == f"user:{ADMIN}"
    assert from_bot.detail == {**from_web.detail, "channel": "telegram"}
    assert from_web.detail["channel"] == "web"


async def test_manage_container_refuses_unknown_verbs_before_the_engine(web: Console) -> None:
    engine = FakeEngine(down=True)
    with pytest.raises(InvalidInput):
        await manage_container(
            engine, web.core.audit, verb="kill", container="web", actor="user:x",
            channel="web", host="h",
        )  # fmt: skip
    with pytest.raises(Unavailable):
        await manage_container(
            engine, web.core.audit, verb="stop", container="web", actor="user:x",
            channel="web", host="h",
        )  # fmt: skip
    [failed] = await actions(web)
    assert failed.detail["outcome"] == "failed" and failed.detail["verb"] == "stop"


def test_the_host_label_comes_from_the_monitor_settings_when_set() -> None:
    class Monitor:
        host_label = " prod-db-1 "

    assert host_label(Monitor()) == "prod-db-1"
    assert host_label(None) == host_label(object()) != ""
    settings = web_settings(monitor=MonitorSettings(host_label="prod-db-1"))
    assert ConsoleServices.build(settings).host_name == "prod-db-1"
