"""Two hub replicas in webhook mode on one PostgreSQL database, in one process (two store objects,
cores, dispatchers, bots and webhook servers): a code prompt, a confirmation and the outbox are
shared through the store, and nothing runs or is sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy import func, select

from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore
from hostwarden.storage.sql import SqlStore
from hostwarden.storage.sql.pending_tables import pending
from tests.bot.conftest import ADMIN_CHAT, ADMIN_ID
from tests.bot.fakes import callback_update, message_update
from tests.bot.replicas import Replica, WatchedSession, replica_settings, start_replica
from tests.conftest import database_url_for
from tests.web.fakes import FakeEngine, sample_engine

Pair = tuple[Replica, Replica, ManualClock, FakeEngine]


@pytest.fixture
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[Pair]:
    url = await database_url_for("postgres", tmp_path, request)
    settings = replica_settings()
    engine = sample_engine()  # one engine behind both replicas: its counters see both
    a = await start_replica(url, settings, clock, engine)
    b = await start_replica(url, settings, clock, engine)
    yield a, b, clock, engine
    await a.close()
    await b.close()


async def enrol(core: AccessCore, clock: ManualClock) -> str:
    user = await core.directory.resolve(Actor(telegram_id=ADMIN_ID))
    assert user is not None
    enrolment = await core.totp.begin_enrolment(user)
    await core.totp.confirm_enrolment(user, pyotp.TOTP(enrolment.secret).at(clock.now()))
    clock.advance(30)  # the next code is a new step
    return enrolment.secret


async def parked_rows(core: AccessCore) -> int:
    assert isinstance(core.store, SqlStore)
    async with core.store.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(pending))).scalar_one())


def nonce_of(session: WatchedSession) -> str | None:
    """The ``ok:`` nonce of the last confirmation question the replica sent, if any."""
    for call in reversed(session.named("SendMessage")):
        markup: Any = getattr(call, "reply_markup", None)
        if isinstance(markup, InlineKeyboardMarkup):
            for row in markup.inline_keyboard:
                for button in row:
                    if (button.callback_data or "").startswith("ok:"):
                        return str(button.callback_data)[3:]
    return None


async def test_a_code_prompt_from_replica_a_is_answered_on_b_and_runs_once_there(
    pair: Pair,
) -> None:
    a, b, clock, _ = pair
    secret = await enrol(a.core, clock)
    await a.post(message_update(ADMIN_ID, "/logs web 5"))
    await a.session.until(lambda: any("2FA code" in t for t in a.texts(ADMIN_ID)))
    assert await parked_rows(b.core) == 1  # B sees the parked update: it is in the store

    await b.post(message_update(ADMIN_ID, pyotp.TOTP(secret).at(clock.now())))
    await b.session.until(lambda: len(b.texts(ADMIN_ID)) >= 2)
    accepted, logs = b.texts(ADMIN_ID)
    assert accepted == "✅ Code accepted."
    assert "line 120" in logs and "line 115" not in logs  # /logs web 5 ran, on B
    assert len(a.texts(ADMIN_ID)) == 1  # A only asked
    assert await parked_rows(a.core) == 0  # taken once, gone

    # The parked update cannot run again: a later code on A is just a code, nothing is replayed.
    clock.advance(30)
    await a.post(message_update(ADMIN_ID, pyotp.TOTP(secret).at(clock.now())))
    await a.session.until(lambda: len(a.texts(ADMIN_ID)) >= 2)
    assert not any("line 120" in t for t in a.texts(ADMIN_ID) + b.texts(ADMIN_ID)[2:])


async def test_a_confirmation_pressed_on_the_other_replica_acts_once(pair: Pair) -> None:
    a, b, clock, engine = pair
    await enrol(a.core, clock)
    user = await a.core.directory.resolve(Actor(telegram_id=ADMIN_ID))
    assert user is not None
    await a.core.store.elevations.grant(user.id, "telegram", clock.now())  # a fresh code
    await a.post(message_update(ADMIN_ID, "/restart web"))
    await a.session.until(lambda: nonce_of(a.session) is not None)
    nonce = nonce_of(a.session)

    first = callback_update(ADMIN_ID, f"ok:{nonce}")
    await b.post(first)
    await b.session.until(lambda: any("is now running" in t for t in b.texts(ADMIN_ID)))
    assert engine.containers_by_name["web"].restarts == 3

    again = callback_update(ADMIN_ID, f"ok:{nonce}")  # the same button, pressed on A
    await a.post(again)
    query_id = again.callback_query.id if again.callback_query else ""
    await a.session.until(lambda: a.session.answered(query_id))
    assert engine.containers_by_name["web"].restarts == 3
    assert not any("is now running" in t for t in a.texts(ADMIN_ID))

    # Pressed on both at once: one of them restarts, the other finds the nonce used.
    await a.post(message_update(ADMIN_ID, "/restart web"))
    await a.session.until(lambda: nonce_of(a.session) not in (None, nonce))
    racing = [callback_update(ADMIN_ID, f"ok:{nonce_of(a.session)}") for _ in range(2)]
    a.session.clear()
    b.session.clear()
    await asyncio.gather(a.post(racing[0]), b.post(racing[1]))
    for replica, press in zip((a, b), racing, strict=True):
        pressed = press.callback_query.id if press.callback_query else ""
        await replica.session.until(lambda s=replica.session, q=pressed: s.answered(q))
    assert engine.containers_by_name["web"].restarts == 4
    done = [t for t in a.texts(ADMIN_ID) + b.texts(ADMIN_ID) if "is now running" in t]
    assert len(done) == 1


async def test_a_thousand_alerts_under_load_reach_the_admin_chat_once_each(pair: Pair) -> None:
    a, b, clock, _ = pair
    produced = asyncio.Event()

    async def produce() -> None:
        async def alerts(replica: Replica, tag: str) -> None:
            for n in range(500):
                await replica.core.alerts.raise_alert(Alert("test", f"alert {tag}{n}", clock.now()))

        await asyncio.gather(alerts(a, "a"), alerts(b, "b"))
        produced.set()

    async def drain(replica: Replica) -> None:
        while True:
            finished = produced.is_set()
            await replica.app.deliver_alerts()
            if finished and not await replica.core.store.outbox.due(clock.now(), 1):
                return

    await asyncio.wait_for(asyncio.gather(produce(), drain(a), drain(b)), 300)
    title = re.compile(r"<b>(alert [ab]\d+)</b>")
    sent = {
        name: [title.search(t) for t in r.texts(ADMIN_CHAT)] for name, r in (("a", a), ("b", b))
    }
    delivered = Counter(m.group(1) for found in sent.values() for m in found if m)
    assert set(delivered) == {f"alert {tag}{n}" for tag in "ab" for n in range(500)}
    assert set(delivered.values()) == {1}  # exactly once each
    assert sent["a"] and sent["b"]  # both replicas did send: they shared the work


async def test_a_sender_killed_mid_send_leaves_its_claim_to_run_out(pair: Pair) -> None:
    a, b, clock, _ = pair
    await a.core.alerts.raise_alert(Alert("test", "lonely alert", clock.now()))
    sending = asyncio.Event()

    class Hanging:
        name = f"telegram:{ADMIN_CHAT}"  # the recipient B's notifier is

        async def send(self, text: str) -> None:
            sending.set()
            await asyncio.Event().wait()  # never returns: A dies in here

    crashed = asyncio.create_task(a.core.dispatcher([Hanging()]).deliver_due())
    await sending.wait()
    crashed.cancel()  # A is gone mid-send; its claim is committed, its send never finished
    with contextlib.suppress(asyncio.CancelledError):
        await crashed
    assert await b.app.deliver_alerts() == 0  # the claim still holds: B leaves it alone
    clock.advance(29)
    assert await b.app.deliver_alerts() == 0
    clock.advance(1)  # alerts.retry_seconds after the claim: it has run out
    assert await b.app.deliver_alerts() == 1
    assert len([t for t in b.texts(ADMIN_CHAT) if "lonely alert" in t]) == 1
