"""The release feed: no misleading default; with none configured the bot says so."""

from __future__ import annotations

import pytest

from hostwarden.config import Settings
from hostwarden.core.clock import ManualClock
from hostwarden.errors import Unavailable
from hostwarden.updates import NOT_CONFIGURED, ReleaseChecker, UpdateSettings
from tests.bot.conftest import USER_ID, bot_settings, make_harness


def test_no_feed_is_assumed() -> None:
    assert Settings().updates.release_feed_url is None


async def test_the_checker_refuses_without_a_feed_and_asks_nothing() -> None:
    checker = ReleaseChecker(UpdateSettings())
    assert not checker.configured
    with pytest.raises(Unavailable, match="No release feed is configured"):
        await checker.check()


async def test_check_bot_updates_says_none_is_configured() -> None:
    harness, core = await make_harness(bot_settings(updates=UpdateSettings()), ManualClock())
    try:
        [answer] = await harness.say(USER_ID, "/check_bot_updates")
    finally:
        await core.close()
    assert "No release feed is configured" in answer
    assert "⚠️" not in answer and NOT_CONFIGURED.startswith("No release feed")
