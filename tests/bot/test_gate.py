"""The gate: the seeds' flow for strangers, blocked users and known users, on every update type."""

from __future__ import annotations

import logging

import pytest

from hostwarden.core.alerts import TOKEN_HINT
from hostwarden.core.audit import Kind
from hostwarden.errors import StorageError
from hostwarden.storage.base import AuditQuery
from tests.bot.conftest import ADMIN_ID, STRANGER_ID, USER_ID, Harness
from tests.bot.fakes import raw_update, user_dict


async def test_stranger_gets_silence_admin_gets_masked_alerts_then_a_block(
    harness: Harness,
) -> None:
    assert await harness.say(STRANGER_ID, "/status", username="mallory") == []
    [alert] = await harness.admin_chat()
    assert "Unauthorized access attempt" in alert
    assert "55*****56" in alert and str(STRANGER_ID) not in alert
    assert "mal*ory" in alert and "mallory" not in alert
    assert TOKEN_HINT.split(";")[0] in alert
    assert "Attempt: 1, 2 left" in alert

    # Within 300 s the second attempt is counted but not reported again.
    harness.clock.advance(10)
    assert await harness.say(STRANGER_ID, "/status") == []
    assert await harness.admin_chat() == []

    # The third attempt (MAX_ATTEMPTS=3) blocks, and the admin is told.
    assert await harness.say(STRANGER_ID, "hello") == []
    [blocked] = await harness.admin_chat()
    assert "blocked" in blocked.lower()

    # Blocked: dropped, even /getmyid; a button press is answered without a word.
    assert await harness.say(STRANGER_ID, "/getmyid") == []
    await harness.press(STRANGER_ID, "v:status")
    [answer] = harness.session.named("AnswerCallbackQuery")
    assert answer.text is None  # the spinner stops; nothing says "blocked"
    assert await harness.admin_chat() == []


async def test_getmyid_is_the_one_reply_a_stranger_gets(harness: Harness) -> None:
    [reply] = await harness.say(STRANGER_ID, "/getmyid")
    assert f"<code>{STRANGER_ID}</code>" in reply
    events = await harness.core.audit.query(AuditQuery(kind=Kind.ACCESS_UNKNOWN))
    assert len(events) == 1  # still counted


async def test_every_update_type_passes_the_gate(harness: Harness) -> None:
    stranger = user_dict(STRANGER_ID)
    updates = [
        raw_update(
            "edited_message",
            {
                "message_id": 1,
                "date": 1,
                "edit_date": 2,
                "chat": {"id": STRANGER_ID, "type": "private"},
                "from": stranger,
                "text": "/down x",
            },
        ),
        raw_update("inline_query", {"id": "q1", "from": stranger, "query": "x", "offset": ""}),
        raw_update(
            "callback_query",
            {"id": "c1", "from": stranger, "chat_instance": "i", "data": "v:status"},
        ),
    ]
    for update in updates:
        await harness.app.dispatcher.feed_update(harness.app.bot, update)
    events = await harness.core.audit.query(AuditQuery(kind=Kind.ACCESS_UNKNOWN))
    assert [e.detail["attempt"] for e in events] == [3, 2, 1]
    assert await harness.core.lockout.blocked((f"tg:{STRANGER_ID}",)) is not None
    assert harness.session.texts(STRANGER_ID) == []


async def test_known_user_roles_decide(harness: Harness) -> None:
    [status] = await harness.say(USER_ID, "/status")
    assert "CPU" in status and "Memory" in status
    assert await harness.say(USER_ID, "/down web") == ["Access denied."]
    assert await harness.say(USER_ID, "/audit") == ["Access denied."]
    [needs] = await harness.say(ADMIN_ID, "/down web")
    assert "/enroll2fa" in needs


async def test_menu_matching_is_exact(harness: Harness) -> None:
    [with_bot_name] = await harness.say(USER_ID, "/status@hw_bot")
    assert "CPU" in with_bot_name
    [lookalike] = await harness.say(USER_ID, "/statusx")
    assert "CPU" not in lookalike and "not something I know" in lookalike
    [plain] = await harness.say(USER_ID, "status")
    assert "CPU" not in plain
    [button] = await harness.press(USER_ID, "v:memory")
    assert "Swap" in button
    [forged] = await harness.press(USER_ID, "v:memoryX") or [None]
    assert forged is None
    [answer] = harness.session.named("AnswerCallbackQuery")
    assert answer.text == "Access denied."


async def test_gate_fails_closed_when_the_store_fails(harness: Harness) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("database gone")

    harness.core.guard.decide = broken  # type: ignore[method-assign,assignment]
    assert await harness.say(USER_ID, "/status") == []


async def test_a_lost_store_is_one_log_line_not_a_trace_per_update(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: object) -> None:
        raise StorageError("store unavailable: the database file is missing")

    harness.core.guard.decide = broken  # type: ignore[method-assign,assignment]
    harness.core.health.failed("the database file is missing")
    with caplog.at_level(logging.DEBUG, logger="hostwarden"):
        for _ in range(3):
            assert await harness.say(USER_ID, "/status") == []  # still closed
    assert not [r for r in caplog.records if r.exc_info]
    assert caplog.text.count("store unavailable: the database file is missing;") <= 1


async def test_a_known_user_flooding_the_bot_is_slowed(harness: Harness) -> None:
    answered = [await harness.say(USER_ID, "/getmyid") for _ in range(25)]
    assert sum(1 for replies in answered if replies) == 20  # access.rate_limit per 10 s
    harness.clock.advance(10)
    assert await harness.say(USER_ID, "/getmyid")
    assert await harness.core.lockout.list_blocks() == []


async def test_one_host_means_no_store_read_for_a_picked_host(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing to choose, neither a stranger's flood nor a user's views read the chat's
    pick from the store (with several hosts, tests/bot/test_fleet.py covers the pick)."""
    from hostwarden.bot import gate

    reads: list[object] = []

    async def counted(state: object) -> str | None:
        reads.append(state)
        return None

    monkeypatch.setattr(gate, "chosen_host", counted)
    assert await harness.say(STRANGER_ID, "/status") == []
    assert await harness.say(USER_ID, "/status")
    await harness.press(USER_ID, "v:menu")
    assert reads == []
