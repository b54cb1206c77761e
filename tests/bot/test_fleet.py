"""The bot as a hub: every view and action on a chosen host, the guard deciding per host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings
from hostwarden.fleet.target import Fleet
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.fleet import CertInfo, PendingEnrolment
from hostwarden.storage.memory import MemoryStore
from tests.bot.conftest import ADMIN_ID, STRANGER_ID, USER_ID, Harness, bot_settings, make_harness
from tests.bot.fakes import RecordingSession, make_bot
from tests.fleet_fakes import DownHost, fleet_of
from tests.web.fakes import FakeContainer, FakeEngine

HUB, DB1, DB2 = "hub", "db1", "db2"


def engine_of(fleet: Fleet, name: str) -> FakeEngine:
    engine = fleet.get(name).engine
    assert isinstance(engine, FakeEngine)
    return engine


async def fleet_harness(clock: ManualClock, fleet: Fleet, **access: object) -> Harness:
    settings = bot_settings(
        access=AccessSettings(
            allowed_telegram_ids=[USER_ID], admin_telegram_ids=[ADMIN_ID], **access
        )
    )
    harness, _ = await make_harness(settings, clock)
    harness.app.services.fleet = fleet
    return harness


@pytest.fixture
async def three(clock: ManualClock) -> AsyncIterator[Harness]:
    harness = await fleet_harness(clock, fleet_of(HUB, DB1, DB2))
    yield harness
    await harness.core.close()


def buttons(harness: Harness) -> list[str]:
    """Callback data of the last message's keyboard."""
    for call in reversed(harness.session.calls):
        markup = getattr(call, "reply_markup", None)
        if markup is not None:
            return [b.callback_data for row in markup.inline_keyboard for b in row]
    return []


async def test_restart_on_a_named_host_asks_a_code_then_names_it_and_acts_there_only(
    three: Harness,
) -> None:
    fleet = three.app.services.hosts()
    secret = await three.enrol(ADMIN_ID)
    [prompt] = await three.say(ADMIN_ID, "/restart web@db1")
    assert "2FA code" in prompt and "on host <b>db1</b>" in prompt
    [_, question] = await three.say(ADMIN_ID, three.code(secret))
    assert question == "Restart container <b>web</b> on host <b>db1</b>?"
    ok = next(data for data in buttons(three) if data.startswith("ok:"))
    [done] = await three.press(ADMIN_ID, ok)
    assert done == "✅ Restart: <b>web</b> on <b>db1</b> is now running."
    restarts = {
        name: engine_of(fleet, name).containers_by_name["web"].restarts for name in fleet.names()
    }
    assert restarts == {HUB: 2, DB1: 3, DB2: 2}
    [event] = await three.core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))
    assert event.detail["host"] == DB1 and event.detail["container"] == "web"


async def test_the_picked_host_sticks_per_chat_and_outlives_a_code_prompt(three: Harness) -> None:
    [menu] = await three.say(USER_ID, "/menu")
    assert menu == "Host <b>hub</b>. Choose a view:"
    assert {"h:hub", "h:db1", "h:db2", "v:hosts"} <= set(buttons(three))
    [picked] = await three.press(USER_ID, "h:db2")
    assert "Now on host <b>db2</b>" in picked and "h:db2" in buttons(three)
    [status] = await three.say(USER_ID, "/status")
    assert status.startswith("🖥 <i>db2</i>\n")
    assert "v:status@db2" in buttons(three)  # its refresh stays on db2 whatever is picked later
    [view] = await three.press(USER_ID, "v:cpu")
    assert view.startswith("🖥 <i>db2</i>\n")
    [other] = await three.say(ADMIN_ID, "/status")  # another chat: still the default
    assert not other.startswith("🖥 <i>db2</i>")
    [named] = await three.say(USER_ID, "/status @db1")  # naming one does not change the pick
    assert named.startswith("🖥 <i>db1</i>\n")
    [again] = await three.say(USER_ID, "/containers")
    assert again.startswith("🖥 <i>db2</i>\n") and "web" in again

    secret = await three.enrol(ADMIN_ID)
    await three.press(ADMIN_ID, "h:db1")
    [prompt] = await three.say(ADMIN_ID, "/down worker")
    assert "on host <b>db1</b>" in prompt
    [_, question] = await three.say(ADMIN_ID, three.code(secret))
    assert question == "Stop container <b>worker</b> on host <b>db1</b>?"
    [status] = await three.say(ADMIN_ID, "/status")
    assert status.startswith("🖥 <i>db1</i>\n")  # the challenge's end kept the pick


async def test_hosts_overview_shows_an_unreachable_host_and_when_it_was_last_seen(
    clock: ManualClock,
) -> None:
    sick = FakeEngine().add(FakeContainer("api", health="unhealthy"), FakeContainer("db"))
    fleet = fleet_of(HUB, DB1, "db3", down=("db3",))
    engine_of(fleet, DB1).add(*sick.containers_by_name.values())
    harness = await fleet_harness(clock, fleet)
    [overview] = await harness.say(USER_ID, "/hosts")
    assert "🟢 <b>hub</b> · chosen" in overview and "🟢 <b>db1</b>" in overview
    assert "CPU 42% · memory 38% · disk 91% (/)" in overview
    assert "containers: 2 of 3 running" in overview  # hub: web and worker; backup-job exited
    assert "containers: 4 of 5 running · ⚠️ 1 unhealthy" in overview
    assert "🔴 <b>db3</b>" in overview and "the agent on db3 does not answer" in overview
    assert "last seen: not since the hub started" in overview
    down = fleet.get("db3")
    assert isinstance(down, DownHost)
    down.down = False
    [overview] = await harness.say(USER_ID, "/hosts")
    assert "🟢 <b>db3</b>" in overview
    down.down = True
    clock.advance(300)
    [overview] = await harness.say(USER_ID, "/hosts")
    assert "🔴 <b>db3</b>" in overview and "last seen: 5m ago" in overview
    [view] = await harness.say(USER_ID, "/status @db3")
    assert view == (
        "⚠️ Host <b>db3</b> does not answer: the agent on db3 does not answer (last seen 5m ago)."
    )
    await harness.core.close()


async def test_a_user_granted_db1_only_is_refused_db2_in_every_form_audited(
    clock: ManualClock,
) -> None:
    harness = await fleet_harness(clock, fleet_of(HUB, DB1, DB2), host_grants={str(USER_ID): [DB1]})
    for text in ("/status @db2", "/containers @db2", "/status", "/images @nosuch"):
        assert await harness.say(USER_ID, text) == ["Access denied."], text
    for data in ("h:db2", "v:status@db2", "cp:0@db2", "h:nosuch"):
        await harness.press(USER_ID, data)
        [answer] = harness.session.named("AnswerCallbackQuery")
        assert getattr(answer, "text", None) == "Access denied.", data
    denied = await harness.core.audit.query(AuditQuery(kind=Kind.ACCESS_DENIED))
    refused = [(e.actor, e.detail.get("host"), e.detail["reason"]) for e in denied]
    assert refused.count((f"tg:{USER_ID}", DB2, "host")) == 5
    assert (f"tg:{USER_ID}", HUB, "host") in refused and (
        f"tg:{USER_ID}",
        "nosuch",
        "host",
    ) in refused

    [overview] = await harness.say(USER_ID, "/hosts")
    assert "<b>db1</b>" in overview and "db2" not in overview and "hub" not in overview
    [mine] = await harness.say(USER_ID, "/status @db1")
    assert mine.startswith("🖥 <i>db1</i>\n")
    await harness.press(USER_ID, "h:db1")
    [status] = await harness.say(USER_ID, "/status")
    assert status.startswith("🖥 <i>db1</i>\n")
    assert [b for b in buttons(harness) if b.startswith("h:")] == []  # one host: no picker
    [admin] = await harness.say(ADMIN_ID, "/status @db2")  # no grant named: every host
    assert admin.startswith("🖥 <i>db2</i>\n")
    await harness.core.close()


async def test_unknown_hosts_get_one_line_and_strangers_nothing_new(three: Harness) -> None:
    assert await three.say(USER_ID, "/status @nosuch") == ["⚠️ no such host"]
    assert await three.say(USER_ID, "/logs web@nosuch") == ["Access denied."]  # admins only
    await three.enrol(ADMIN_ID)
    assert await three.say(ADMIN_ID, "/restart web@nosuch") == ["⚠️ no such host"]  # no code asked
    for text in ("/status", "/status @nosuch", "/status @db1", "/restart web@db1", "/hosts"):
        assert await three.say(STRANGER_ID + 7, text) == [], text
        three.clock.advance(3600)  # stay under the block; every one is counted the same
    unknown = await three.core.audit.query(AuditQuery(kind=Kind.ACCESS_UNKNOWN))
    assert len(unknown) == 5


async def test_hostile_host_names_in_commands_and_buttons(three: Harness) -> None:
    [shouted] = await three.say(USER_ID, "/status @DB1")  # ASCII case is forgiven
    assert shouted.startswith("🖥 <i>db1</i>\n")
    for text in (
        "/status @<b>x</b>",
        "/logs web@",
        "/status @db1 @db2",
        "/restart web@db1@db2",
        "/status @" + "d" * 40,
        "/status @\u202edb1",
        "/status @\u217eb1",
    ):
        [line] = await three.say(ADMIN_ID, text)
        assert line.startswith("⚠️ That is not a host name"), text
    for data in (
        "h:DB1",
        "h:<b>",
        "h:" + "a" * 60,
        "h:db1@db2",
        "v:status@DB1",
        "v:menu@db1",
        "cp:0@",
    ):
        await three.press(USER_ID, data)
        [answer] = three.session.named("AnswerCallbackQuery")
        assert getattr(answer, "text", None) == "Access denied.", (
            data
        )  # no such button: the unknown action
    assert await three.say(USER_ID, "/audit @db1") == ["Access denied."]  # not a host command


async def hub_on(store: MemoryStore, clock: ManualClock, fleet: Fleet, **access: object) -> Harness:
    """A hub (a restart, or another replica) on ``store``, with these access settings."""
    settings = bot_settings(
        access=AccessSettings(
            allowed_telegram_ids=[USER_ID], admin_telegram_ids=[ADMIN_ID], **access
        )
    )
    core = AccessCore(store, settings.core(), clock, bot_policy())
    await core.start()
    session = RecordingSession()
    app = BotApp(settings, core, bot=make_bot(session))
    app.services.fleet = fleet
    return Harness(app, session, clock)


async def ask_restart_on_db1(harness: Harness) -> str:
    """``/restart web@db1`` with a code: the ``ok:`` button of the question."""
    secret = await harness.enrol(ADMIN_ID)
    await harness.say(ADMIN_ID, "/restart web@db1")
    [_, question] = await harness.say(ADMIN_ID, harness.code(secret))
    assert question == "Restart container <b>web</b> on host <b>db1</b>?"
    return next(data for data in buttons(harness) if data.startswith("ok:"))


async def test_a_confirmation_is_decided_on_its_host_so_a_revoked_grant_holds(
    clock: ManualClock,
) -> None:
    store, fleet = MemoryStore(), fleet_of(HUB, DB1)
    before = await hub_on(store, clock, fleet, host_grants={str(ADMIN_ID): [HUB, DB1]})
    ok = await ask_restart_on_db1(before)
    # The config no longer grants db1 (a restart, or the other replica), the nonce lives on.
    after = await hub_on(store, clock, fleet, host_grants={str(ADMIN_ID): [HUB]})
    clock.advance(5)
    await after.press(ADMIN_ID, ok)
    [answer] = after.session.named("AnswerCallbackQuery")
    assert getattr(answer, "text", None) == "Access denied."
    assert engine_of(fleet, DB1).containers_by_name["web"].restarts == 2  # untouched
    denied = await store.audit.query(AuditQuery(kind=Kind.ACCESS_DENIED))
    assert [(e.detail.get("host"), e.detail["reason"]) for e in denied] == [(DB1, "host")]
    assert await store.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION)) == []


async def enrolled(store: MemoryStore, clock: ManualClock, name: str, fingerprint: str) -> None:
    """A host record for ``name`` with a certificate of ``fingerprint``, as enrolment leaves."""
    now = clock.now()
    await store.hosts.remove(name)
    pending = PendingEnrolment(name, "h" * 64, "https://10.0.0.5:9443", now, now + timedelta(1))
    await store.enrolments.put(pending, now)
    cert = CertInfo(fingerprint, "01", now + timedelta(days=30))
    assert await store.enrolments.redeem("h" * 64, name, now, cert) is not None


async def test_a_confirmation_is_bound_to_the_host_enrolled_when_it_was_asked(
    clock: ManualClock,
) -> None:
    store, fleet = MemoryStore(), fleet_of(HUB, DB1)
    await enrolled(store, clock, DB1, "a" * 64)
    hub = await hub_on(store, clock, fleet)
    ok = await ask_restart_on_db1(hub)
    await enrolled(store, clock, DB1, "b" * 64)  # removed, then enrolled again under its name
    await hub.press(ADMIN_ID, ok)
    [answer] = hub.session.named("AnswerCallbackQuery")
    assert getattr(answer, "text", None) == "This confirmation has expired."
    assert engine_of(fleet, DB1).containers_by_name["web"].restarts == 2
    # The same host all along: the press acts (the code given above is still fresh).
    [question] = await hub.say(ADMIN_ID, "/restart web@db1")
    assert question == "Restart container <b>web</b> on host <b>db1</b>?"
    ok = next(data for data in buttons(hub) if data.startswith("ok:"))
    [done] = await hub.press(ADMIN_ID, ok)
    assert done == "✅ Restart: <b>web</b> on <b>db1</b> is now running."
    assert engine_of(fleet, DB1).containers_by_name["web"].restarts == 3


async def test_the_picked_host_lasts_while_the_chat_is_in_use(three: Harness) -> None:
    [picked] = await three.press(USER_ID, "h:db1")
    assert "Now on host <b>db1</b>" in picked
    for idle in (7201, 250 * 86400, 250 * 86400, 250 * 86400):  # lunch, then months apart
        three.clock.advance(idle)
        [status] = await three.say(USER_ID, "/status")
        assert status.startswith("🖥 <i>db1</i>\n"), idle


async def test_one_name_for_a_host_in_the_prompt_the_question_and_the_result(
    three: Harness,
) -> None:
    label = three.app.services.renderer.host  # what the hub's own host is called
    assert label != HUB
    secret = await three.enrol(ADMIN_ID)
    await three.press(ADMIN_ID, "h:hub")
    [prompt] = await three.say(ADMIN_ID, "/down worker")
    assert f"on host <b>{label}</b>" in prompt
    [_, question] = await three.say(ADMIN_ID, three.code(secret))
    assert question == f"Stop container <b>worker</b> on host <b>{label}</b>?"
    ok = next(data for data in buttons(three) if data.startswith("ok:"))
    [done] = await three.press(ADMIN_ID, ok)
    assert done.startswith(f"✅ Stop: <b>worker</b> on <b>{label}</b> is now")
