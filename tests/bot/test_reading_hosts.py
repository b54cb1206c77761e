"""The one reading of a host: named in a command or a button, picked in the chat, or the default."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hostwarden.bot.confirmations import Asked
from hostwarden.bot.reading import (
    BAD_HOST,
    CONFIRM,
    EXPIRED_PRESS,
    HOST_PICK,
    NOWHERE,
    PAGE,
    UNBLOCK_PRESS,
    ReadingContext,
    read_update,
)
from tests.bot.conftest import USER_ID
from tests.bot.fakes import callback_update
from tests.bot.test_reading import GROUP, group, message

PICKED = ReadingContext("hw_bot", frozenset({GROUP}), None, lambda _: None, "db2", "hub")


@pytest.mark.parametrize(
    ("text", "route", "args", "host"),
    [
        ("/restart web@db1", "/restart", ("web",), "db1"),
        ("/logs api@db2 50", "/logs", ("api", "50"), "db2"),
        ("/status @db1", "/status", (), "db1"),
        ("/containers @DB1 2", "/containers", ("2",), "db1"),
        ("/status", "/status", (), "db2"),  # the chat's pick
        ("/up web", "/up", ("web",), "db2"),
        ("/hosts", "/hosts", (), None),  # about every host, not one
        ("/audit @db1", "/audit", ("@db1",), None),  # not a host command: words stay words
        ("/status @", BAD_HOST, (), None),
        ("/status @db1 @db2", BAD_HOST, (), None),
        ("/status @db1 @DB1", "/status", (), "db1"),  # the same host twice is one host
        ("/logs web@db1@db2", BAD_HOST, (), None),
        ("/restart web@<b>", BAD_HOST, (), None),
        ("/status @\u217eb1", BAD_HOST, (), None),
    ],
)
def test_a_command_names_its_host(
    text: str, route: str, args: tuple[str, ...], host: str | None
) -> None:
    reading = read_update(message(USER_ID, text=text), PICKED)
    assert (reading.route, reading.args, reading.host) == (route, args, host)


@pytest.mark.parametrize(
    ("data", "route", "host"),
    [
        ("h:db1", HOST_PICK, "db1"),
        ("v:status@db1", "view:status", "db1"),
        ("v:status", "view:status", "db2"),
        ("cp:3@db1", PAGE, "db1"),
        ("v:menu", "view:menu", None),
        ("h:DB1", NOWHERE, None),
        ("h:", NOWHERE, None),
        ("v:menu@db1", NOWHERE, None),
        ("v:hosts@db1", NOWHERE, None),
        ("v:status@", NOWHERE, None),
        ("cp:1@<b>", NOWHERE, None),
    ],
)
def test_a_button_names_its_host_or_is_unknown(data: str, route: str, host: str | None) -> None:
    reading = read_update(callback_update(USER_ID, data), PICKED)
    assert (reading.route, reading.host) == (route, host)


def test_without_a_pick_the_default_and_in_a_group_the_same() -> None:
    plain = ReadingContext("hw_bot", frozenset({GROUP}), None, lambda _: None, None, "hub")
    assert read_update(message(USER_ID, text="/status"), plain).host == "hub"
    in_group = read_update(message(USER_ID, text="/status @db1", chat=group()), plain)
    assert (in_group.route, in_group.host, in_group.private) == ("/status", "db1", False)
    bad = read_update(message(USER_ID, text="/status @<b>", chat=group()), plain)
    assert (bad.route, bad.private) == (BAD_HOST, False)


@pytest.mark.parametrize(
    ("asked", "route", "host"),
    [
        (Asked("restart", "containers.manage", "db1"), CONFIRM, "db1"),  # not the chat's pick
        (Asked("restart", "containers.manage", None), EXPIRED_PRESS, None),  # no host: not kept
        (Asked("restart", "containers.manage", "<b>"), EXPIRED_PRESS, None),
        (Asked("unblock", "admin.blocks", None), EXPIRED_PRESS, None),  # another kind
    ],
)
def test_a_confirmation_press_reads_the_host_its_question_named(
    asked: Asked, route: str, host: str | None
) -> None:
    context = replace(PICKED, pending=lambda nonce: asked if nonce == "n0nce" else None)
    reading = read_update(callback_update(USER_ID, "ok:n0nce"), context)
    assert (reading.route, reading.host) == (route, host)
    if route == CONFIRM:
        assert reading.action == "containers.manage" and reading.target == "n0nce"


def test_an_unblock_press_names_no_host() -> None:
    asked = Asked("unblock", "admin.blocks", None)
    context = replace(PICKED, pending=lambda nonce: asked)
    reading = read_update(callback_update(USER_ID, "ub:n0nce"), context)
    assert (reading.route, reading.action, reading.host) == (UNBLOCK_PRESS, "admin.blocks", None)
