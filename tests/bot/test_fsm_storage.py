"""aiogram's FSM over the store: the state and data of a chat, their deadline, and a lost store."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp
from hostwarden.bot.challenge import TwoFactor
from hostwarden.bot.fsm_storage import LASTING_SECONDS, StoreStorage, conversation_key
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.storage.memory import MemoryStore
from hostwarden.storage.memory_pending import MemoryConversations
from hostwarden.storage.pending import Conversation
from hostwarden.storage.sql import SqlStore
from tests.bot.conftest import ADMIN_ID, bot_settings, make_harness
from tests.bot.fakes import BOT_ID, RecordingSession, make_bot, message_update


def context(storage: StoreStorage, chat: int = 7, user: int = 7, **key: str) -> FSMContext:
    return FSMContext(storage, StorageKey(BOT_ID, chat, user, **key))  # type: ignore[arg-type]


async def test_state_and_data_live_until_their_deadline(clock: ManualClock) -> None:
    storage = StoreStorage(MemoryStore().conversations, clock, ttl_seconds=60)
    state = context(storage)
    await state.set_state(TwoFactor.awaiting_code)
    await state.update_data(parked="n1", deadline="later")
    assert await state.get_state() == TwoFactor.awaiting_code.state
    assert await state.get_data() == {"deadline": "later", "parked": "n1"}
    # Another chat, user or destiny is another conversation.
    assert await context(storage, chat=8).get_state() is None
    assert await context(storage, user=8).get_state() is None
    assert await context(storage, destiny="hosts").get_state() is None
    clock.advance(59)
    await state.set_state(TwoFactor.confirming_enrolment)  # a write renews the deadline
    clock.advance(59)
    assert await state.get_data() == {"deadline": "later", "parked": "n1"}
    clock.advance(1)
    assert await state.get_state() is None and await state.get_data() == {}
    await state.clear()
    assert await storage.close() is None


def test_keys_name_every_part_and_stay_short() -> None:
    key = StorageKey(BOT_ID, -100123, 42, thread_id=5, business_connection_id="b", destiny="d")
    assert conversation_key(key) == f"{BOT_ID}:-100123:5:42:b:d"
    long = StorageKey(BOT_ID, 1, 2, business_connection_id="x" * 500)
    assert len(conversation_key(long)) == 128


async def test_only_a_text_that_may_be_a_code_reads_the_state(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness, core = await make_harness(bot_settings(), clock)
    reads: list[str] = []
    original = MemoryConversations.get

    async def counted(self: MemoryConversations, key: str, now: datetime) -> Conversation | None:
        if key.endswith(":default"):  # the conversation's state (other destinies are not it)
            reads.append(key)
        return await original(self, key, now)

    monkeypatch.setattr(MemoryConversations, "get", counted)
    try:
        for command in ("/uptime", "/status@hw_bot", "/getmyid"):
            await harness.say(ADMIN_ID, command)
        await harness.press(ADMIN_ID, "v:menu")
        assert reads == []  # commands and presses cost no conversation read
        await harness.say(ADMIN_ID, "123456")
        assert len(reads) == 1
    finally:
        await core.close()


async def test_a_lost_store_drops_updates_without_a_traceback_each(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bot.db"
    settings = bot_settings()
    core = AccessCore(SqlStore(str(path)), settings.core(), clock, bot_policy())
    await core.start()
    session = RecordingSession()
    app = BotApp(settings, core, bot=make_bot(session))
    try:
        await app.dispatcher.feed_update(app.bot, message_update(ADMIN_ID, "/uptime"))
        assert session.texts(ADMIN_ID)  # served while the store is there
        session.clear()
        path.unlink()
        caplog.set_level(logging.DEBUG)
        for _ in range(3):
            await app.dispatcher.feed_update(app.bot, message_update(ADMIN_ID, "/uptime"))
        assert session.texts(ADMIN_ID) == []  # fails closed
        assert not [r for r in caplog.records if r.exc_info]  # no traceback
        loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(loud) == 1 and loud[0].startswith("store unavailable")  # one per outage
        assert not any(str(ADMIN_ID) in r.getMessage() for r in caplog.records)
    finally:
        await core.close()


async def test_a_lasting_destiny_outlives_the_conversation_deadline_and_renews_on_use(
    clock: ManualClock,
) -> None:
    store = MemoryStore()
    storage = StoreStorage(store.conversations, clock, ttl_seconds=60, lasting=["hw_host"])
    pick, talk = context(storage, destiny="hw_host"), context(storage)
    await pick.update_data(host="db1")
    await talk.update_data(parked="n1")
    clock.advance(61)
    assert await talk.get_data() == {}  # a conversation runs out
    assert await pick.get_data() == {"host": "db1"}  # the bookkeeping stays inside
    half = LASTING_SECONDS // 2
    for _ in range(4):  # read at least once per half life: it never runs out
        clock.advance(half + 1)
        assert await pick.get_data() == {"host": "db1"}
    clock.advance(LASTING_SECONDS + 1)  # a chat that stopped using the bot: forgotten at last
    assert await pick.get_data() == {}
    await pick.update_data(host="db2")
    await pick.set_data({})  # cleared: no record is left behind by the bookkeeping
    found = await store.conversations.get(conversation_key(pick.key), clock.now())
    assert found is None
