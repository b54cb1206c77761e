"""The side-by-side baseline does what pyTMBot's access control does, so its figures mean something.

Both variants: an allowed ID passes silently; a stranger is refused twice with a warning each,
blocked at the third attempt, then dropped with a warning per message for an hour; the admin is
told at most once per ID every 300 s. pyTMBot's own (loguru) logging masks every ID it writes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import TextIO, cast

import pytest
from bench.pytmbot_like import PyTMBotLike, StdlibPyTMBotLike
from loguru import logger

from bench import pytmbot_like
from hostwarden.core.clock import ManualClock

ALLOWED = 123_456_789
STRANGER = 987_654_321


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    text = io.StringIO()
    pytmbot_like.configure(cast(TextIO, text))
    yield text
    logger.remove()


@pytest.mark.parametrize("variant", [PyTMBotLike, StdlibPyTMBotLike])
def test_counts_blocks_and_logs_as_pytmbot(
    variant: type[PyTMBotLike | StdlibPyTMBotLike], stream: io.StringIO
) -> None:
    clock = ManualClock()
    middleware = variant({ALLOWED}, clock)
    assert middleware.check(ALLOWED)
    assert stream.getvalue() == ""  # an allowed user's records are below the level
    assert [middleware.check(STRANGER) for _ in range(5)] == [False] * 5
    lines = stream.getvalue().splitlines()
    warnings = [line for line in lines if "WARNING" in line]
    assert len(warnings) == 5  # two attempts, the block, two silent drops
    assert sum("blocked.silent.deny" in line for line in warnings) == 2
    assert sum("notification" in line for line in lines) == 1  # once per 300 s


def test_after_the_hour_a_stranger_is_counted_from_one_again(stream: io.StringIO) -> None:
    clock = ManualClock()
    middleware = PyTMBotLike(set(), clock)
    for _ in range(3):
        middleware.check(STRANGER)
    clock.advance(timedelta(hours=1, seconds=1).total_seconds())
    assert not middleware.check(STRANGER)
    last = json.loads(stream.getvalue().splitlines()[-2])  # the attempt, then the notification
    assert last["msg"] == "bot.access.unauthorized.attempt.deny"
    assert last["attempt_number"] == 1


def test_the_loguru_variant_writes_pytmbots_json_lines(stream: io.StringIO) -> None:
    PyTMBotLike(set(), ManualClock()).check(STRANGER)
    assert str(STRANGER) not in stream.getvalue()  # user and chat ID masked
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {r["level"] for r in records} == {"WARNING", "INFO"}
    assert all("ts" in r and "msg" in r for r in records)
