"""A send that would outlast its claim is cut off and retried, so that no second dispatcher (another
hub replica) can claim and send the same alert while the first is still sending."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from hostwarden.core.alerts import AlertDispatcher
from hostwarden.core.clock import ManualClock
from hostwarden.core.settings import AlertSettings
from hostwarden.storage.memory import MemoryStore


class Stuck:
    """A recipient whose first send never returns (a hung connection); later ones go through."""

    name = "telegram:111111111"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.hung = False

    async def send(self, text: str) -> None:
        if not self.hung:
            self.hung = True
            await asyncio.Event().wait()
        self.sent.append(text)


def test_the_send_limit_is_inside_the_shortest_claim() -> None:
    for retry, most in ((30, 3600), (1, 1), (60, 10)):
        settings = AlertSettings(retry_seconds=retry, max_retry_seconds=most)
        dispatcher = AlertDispatcher(MemoryStore().outbox, [], ManualClock(), settings)
        assert dispatcher._send_limit() == pytest.approx(0.8 * min(retry, most))


async def test_a_hung_send_is_cut_off_and_retried_once_the_claim_runs_out(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AlertDispatcher, "_send_limit", lambda self: 0.05)  # real seconds
    store = MemoryStore()
    recipient = Stuck()
    dispatcher = AlertDispatcher(store.outbox, [recipient], clock, AlertSettings(retry_seconds=30))
    await store.outbox.put("<b>disk full</b>", clock.now())
    assert await asyncio.wait_for(dispatcher.deliver_due(), 10) == 0  # cut off: failed
    [message] = await store.outbox.due(clock.now() + timedelta(seconds=30), 10)
    [delivery] = message.deliveries
    assert delivery.attempts == 1 and not delivery.settled
    assert delivery.next_attempt_at == clock.now() + timedelta(seconds=30)
    clock.advance(29)
    assert await dispatcher.deliver_due() == 0  # still claimed
    clock.advance(1)
    assert await dispatcher.deliver_due() == 1
    assert recipient.sent == ["<b>disk full</b>"]
