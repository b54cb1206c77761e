"""Attacker-sized input reaches every backend's bounded columns without breaking anything."""

from __future__ import annotations

from typing import Any

from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore
from tests.conftest import fast_settings

HUGE = "x" * 4096


async def test_a_4kb_username_is_counted_and_blocked_like_any_other(store: Any) -> None:
    core = AccessCore(store, fast_settings())
    results = [await core.accounts.login(HUGE, "whatever pw", "10.0.0.1", "ua") for _ in range(6)]
    assert [r.ok for r in results] == [False] * 6
    assert await core.lockout.blocked((f"user:{HUGE}",)) is not None
    assert await core.lockout.blocked((f"user:{HUGE}y",)) is None  # distinct names stay distinct


async def test_a_4kb_telegram_name_is_dropped_and_reported(store: Any) -> None:
    core = AccessCore(store, fast_settings())
    actor = Actor(telegram_id=31337, username=HUGE, display_name=HUGE)
    assert (await core.guard.decide(actor, "host.view")).verdict.value == "drop"
    [alert] = await core.store.outbox.due(core.clock.now(), 10)
    assert HUGE not in alert.text and len(alert.text) < 400
