"""Attacker-chosen names and arguments come out as text, within Telegram's limits, never a crash.

The recording session refuses markup and lengths the way Telegram does, so every message these
tests provoke was checked as Telegram would check it.
"""

from __future__ import annotations

import pytest

from hostwarden.bot.handlers.containers import fit_log
from hostwarden.bot.render import MESSAGE_LIMIT, Renderer
from hostwarden.sandbox.markup import parse_html
from tests.bot.conftest import ADMIN_ID, STRANGER_ID, USER_ID, Harness

HOSTILE = [
    "<b>bold</b>",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\u202eevil\u202c",
    "a & b ; &amp; &#60;",
    "x" * 4096,
]


@pytest.mark.parametrize("name", HOSTILE)
async def test_a_strangers_names_reach_the_admin_as_text(harness: Harness, name: str) -> None:
    assert await harness.say(STRANGER_ID, "/start", username=name, first_name=name) == []
    [alert] = await harness.admin_chat()
    assert "<script" not in alert and "<img" not in alert and "\u202e" not in alert
    assert len(alert) < 1000
    parse_html(alert)  # Telegram would accept it


@pytest.mark.parametrize("name", HOSTILE)
async def test_known_users_with_odd_names_are_served(harness: Harness, name: str) -> None:
    [help_text] = await harness.say(USER_ID, "/start", username=name, first_name=name)
    assert "/status" in help_text


ARGUMENTS = ["<b>", "&", "²", "9" * 5000, "-1", "x" * 4096, "\u202e", "../../etc/passwd"]


@pytest.mark.parametrize("argument", ARGUMENTS)
async def test_hostile_arguments_get_one_clear_line(harness: Harness, argument: str) -> None:
    secret = await harness.enrol(ADMIN_ID)
    await harness.say(ADMIN_ID, "/blocked")
    await harness.say(ADMIN_ID, harness.code(secret))
    for command in ("/unblock", "/revoke", "/logs", "/container", "/audit", "/containers", "/down"):
        replies = await harness.say(ADMIN_ID, f"{command} {argument}")
        assert replies, command
        for reply in replies:
            assert len(reply) <= MESSAGE_LIMIT
            parse_html(reply)  # a raw "<b>" would leave a tag open; a raw "&" a broken entity
            assert "\u202e" not in reply
    [answer] = await harness.say(ADMIN_ID, f"/logs web {argument}")
    assert "N must be a number" in answer or "unreachable" in answer


def test_log_lines_are_escaped_and_cut_to_fit_one_message() -> None:
    noisy = "\n".join(f"<script>line {i}</script> & more" for i in range(2000))
    shown, cut = fit_log(noisy)
    assert cut
    text = Renderer().render("logs", name="web", count=2000, text=shown, cut=cut)
    assert len(text) <= MESSAGE_LIMIT
    assert "&lt;script&gt;line 1999&lt;/script&gt;" in text  # the newest line survives
    assert "<script>" not in text
    parse_html(text)
