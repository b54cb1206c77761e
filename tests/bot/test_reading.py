"""One reading of every update: each finding of the attack review, as the attacker sent it."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import GetMe
from aiogram.types import LinkPreviewOptions, Update

from hostwarden.bot.actions import COMMAND_ACTIONS, UNKNOWN, VIEW_ACTIONS
from hostwarden.bot.reading import (
    CODE,
    CODE_STATE,
    DYNAMIC,
    IGNORED,
    ROUTES,
    TEXT,
    Reading,
    ReadingContext,
    read_update,
)
from hostwarden.core.identity import Actor
from tests.bot.conftest import ADMIN_ID, STRANGER_ID, USER_ID, Harness, bot_settings, make_harness
from tests.bot.fakes import user_dict

GROUP = -100_777


def message(
    user_id: int,
    text: str | None = None,
    caption: str | None = None,
    chat: dict[str, Any] | None = None,
) -> Update:
    body: dict[str, Any] = {
        "message_id": 7,
        "date": 1_767_225_600,
        "chat": chat or {"id": user_id, "type": "private"},
        "from": user_dict(user_id),
    }
    if text is not None:
        body["text"] = text
    if caption is not None:
        body["caption"] = caption
        body["photo"] = [{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]
    return Update.model_validate({"update_id": 1, "message": body})


def group(chat_id: int = GROUP) -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup", "title": "ops"}


async def feed(harness: Harness, update: Update) -> list[str]:
    harness.session.clear()
    await harness.app.dispatcher.feed_update(harness.app.bot, update)
    return [
        str(getattr(call, "text", None) or getattr(call, "caption", ""))
        for call in harness.session.calls
        if type(call).__name__ not in ("GetMe",)
    ]


def context(state: str | None = None, groups: frozenset[int] = frozenset()) -> ReadingContext:
    return ReadingContext("hw_bot", groups, state, lambda _nonce: None)


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("/audit", "/audit"),
        ("  /audit 5", "/audit"),
        ("\u00a0/unblock tg:1", "/unblock"),
        ("\n/restart web", "/restart"),
        ("/status@hw_bot", "/status"),
        ("/status@HW_Bot", "/status"),
        ("/status@OtherBot", TEXT),
        ("/getmyid@SomeOtherBot", TEXT),
        ("/STATUS", TEXT),
        ("/²", TEXT),
        ("hello /status", TEXT),
    ],
)
def test_commands_are_read_once_from_text_or_caption(text: str, route: str) -> None:
    for update in (message(USER_ID, text=text), message(USER_ID, caption=text)):
        reading = read_update(update, context())
        assert reading.route == route
        assert reading.action == ROUTES[route]


def test_every_route_has_one_action_and_the_vocabulary_is_covered() -> None:
    assert set(COMMAND_ACTIONS.values()) | set(VIEW_ACTIONS.values()) <= set(ROUTES.values())
    assert not DYNAMIC & set(ROUTES)
    assert read_update(message(USER_ID), context()) == Reading(TEXT, ROUTES[TEXT])
    other = Update.model_validate(
        {
            "update_id": 2,
            "inline_query": {"id": "q", "from": user_dict(1), "query": "/down x", "offset": ""},
        }
    )
    assert read_update(other, context()).action == UNKNOWN


async def test_a_caption_does_not_reach_an_admin_view(harness: Harness) -> None:
    for command in ("/audit", "/sessions", "/blocked"):
        assert await feed(harness, message(USER_ID, caption=command)) == ["Access denied."]


async def test_leading_no_break_space_does_not_lift_a_block(harness: Harness) -> None:
    await harness.core.lockout.block(f"tg:{STRANGER_ID}", "test")
    replies = await feed(harness, message(USER_ID, text=f"\u00a0/unblock tg:{STRANGER_ID}"))
    assert replies == ["Access denied."]
    assert await harness.core.lockout.blocked((f"tg:{STRANGER_ID}",)) is not None


async def test_critical_commands_in_every_form_ask_an_admin_for_a_fresh_code(
    harness: Harness,
) -> None:
    await harness.enrol(ADMIN_ID)
    for form in (
        message(ADMIN_ID, caption="/restart web"),
        message(ADMIN_ID, text=" /restart web"),
        message(ADMIN_ID, text="/down@hw_bot web"),
    ):
        [prompt] = await feed(harness, form)
        assert "needs your 2FA code" in prompt
        await harness.say(ADMIN_ID, "/cancel")


async def test_a_command_to_another_bot_gets_a_stranger_no_answer(harness: Harness) -> None:
    assert await feed(harness, message(STRANGER_ID, text="/getmyid@SomeOtherBot")) == []
    [answer] = await feed(harness, message(STRANGER_ID, text="/getmyid@hw_bot"))
    assert str(STRANGER_ID) in answer


async def test_manage_commands_in_odd_forms_and_crossed_nonces_raise_nothing(
    harness: Harness,
) -> None:
    await harness.enrol(ADMIN_ID)
    user = await harness.user(ADMIN_ID)
    await harness.core.store.elevations.grant(user.id, "telegram", harness.clock.now())
    for update in (message(ADMIN_ID, caption="/up"), message(ADMIN_ID, text="\u00a0/restart")):
        [usage] = await feed(harness, update)
        assert "usage:" in usage
    book = harness.app.services.confirmations
    unblock_nonce = await book.add(ADMIN_ID, "unblock", f"tg:{STRANGER_ID}", "admin.blocks")
    manage_nonce = await book.add(ADMIN_ID, "restart", "web", "containers.manage")
    await harness.press(ADMIN_ID, f"ok:{unblock_nonce}")  # an unblock nonce on a manage button
    await harness.press(ADMIN_ID, f"ub:{manage_nonce}")  # and the other way round
    answers = [call.text for call in harness.session.named("AnswerCallbackQuery")]
    assert answers == ["This confirmation has expired."]
    assert await book.peek(unblock_nonce) is not None  # nothing was used up by the crossed press


async def test_secrets_only_in_private_chats(clock: Any) -> None:
    settings = bot_settings()
    settings = settings.model_copy(
        update={"telegram": settings.telegram.model_copy(update={"group_chat_ids": [GROUP]})}
    )
    harness, core = await make_harness(settings, clock)
    try:
        for command in ("/enroll2fa", "/getmyid", "/restart web", "/audit"):
            replies = await feed(harness, message(ADMIN_ID, text=command, chat=group()))
            assert replies == ["Use a private chat with me for that."]
            assert harness.session.named("SendPhoto") == []
        [status] = await feed(harness, message(USER_ID, text="/status", chat=group()))
        assert "CPU" in status
        # Chatter not addressed to the bot is no request; a stranger's command gets silence.
        assert await feed(harness, message(USER_ID, text="lunch?", chat=group())) == []
        assert await feed(harness, message(STRANGER_ID, text="/status", chat=group())) == []
        # A group the config does not name gets nothing at all, even from the admin.
        other = group(-100_999)
        assert await feed(harness, message(ADMIN_ID, text="/status", chat=other)) == []
        assert await feed(harness, message(ADMIN_ID, text="/enroll2fa", chat=other)) == []
        user = await core.directory.resolve(Actor(telegram_id=ADMIN_ID))
        assert user is not None and not await core.totp.is_enrolled(user)
    finally:
        await core.close()


def test_a_code_prompt_takes_no_command_and_groups_ignore_what_is_not_for_us() -> None:
    waiting = context(CODE_STATE)
    assert read_update(message(USER_ID, text="123456"), waiting).route == CODE
    assert read_update(message(USER_ID, text="/start@OtherBot"), waiting).route == TEXT
    in_group = context(groups=frozenset({GROUP}))
    for text in ("hey @hw_bot_helper", "/weather@hw_bot_helper", "lunch?"):
        assert read_update(message(USER_ID, text=text, chat=group()), in_group).route == IGNORED
    assert read_update(message(USER_ID, text="@HW_BOT hi", chat=group()), in_group).route == TEXT
    edit = Update.model_validate(
        {
            "update_id": 3,
            "edited_message": {
                "message_id": 1,
                "date": 1,
                "edit_date": 2,
                "chat": group(-100_999),
                "from": user_dict(STRANGER_ID),
                "text": "/status",
            },
        }
    )
    assert read_update(edit, context()).route == IGNORED  # no stranger is counted for it


async def test_a_prompt_for_an_update_aiogram_cannot_park_is_still_sent(harness: Harness) -> None:
    await harness.enrol(ADMIN_ID)
    plain = message(ADMIN_ID, text="/restart web https://example.org")
    assert plain.message is not None
    preview = LinkPreviewOptions(url="https://example.org", show_above_text=True)
    update = plain.model_copy(
        update={"message": plain.message.model_copy(update={"link_preview_options": preview})}
    )
    [prompt] = await feed(harness, update)
    assert "needs your 2FA code" in prompt


async def test_enrolment_survives_telegram_failing_to_take_the_qr(harness: Harness) -> None:
    await feed(harness, message(USER_ID, text="/help"))  # getMe is known from here on
    harness.session.fail_with = TelegramNetworkError(method=GetMe(), message="down")
    await feed(harness, message(USER_ID, text="/enroll2fa"))  # no exception escapes
    harness.session.fail_with = None
    [retry] = await feed(harness, message(USER_ID, text="123456"))
    assert "not something I know" in retry  # no enrolment was left waiting for a code
