"""Alerts: wording, digests above the rate, durable delivery with retries."""

from __future__ import annotations

from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AlertSettings
from hostwarden.storage.memory import MemoryStore
from tests.conftest import fast_settings


class Recorder:
    name = "telegram:42"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.down = False

    async def send(self, text: str) -> None:
        if self.down:
            raise ConnectionError("telegram unreachable")
        self.sent.append(text)


def test_render_escapes_and_masks() -> None:
    from datetime import UTC, datetime

    alert = Alert(
        "unauthorized",
        "Unauthorized access attempt",
        datetime(2026, 5, 1, 8, 30, tzinfo=UTC),
        username="<img src=x onerror=alert(1)>",
        user_id=123456789,
        attempt=1,
        attempts_left=2,
        token_hint=True,
    )
    text = alert.render()
    assert "<img" not in text and "&lt;im" in text
    assert "12*****89" in text and "123456789" not in text
    assert "2026-05-01 08:30:00 UTC" in text
    assert "Attempt: 1, 2 left" in text
    assert "regenerate it if it may have leaked" in text


async def test_flood_folds_into_one_digest_per_minute(clock: ManualClock) -> None:
    settings = fast_settings(alerts=AlertSettings(digest_above_per_minute=5))
    core = AccessCore(MemoryStore(), settings, clock)
    for n in range(50):
        await core.guard.decide(Actor(telegram_id=10_000 + n), "host.view")
    recorder = Recorder()
    dispatcher = core.dispatcher([recorder])
    assert await dispatcher.deliver_due() == 5  # the first five, one by one
    clock.advance(60)
    assert await dispatcher.deliver_due() == 1
    digest = recorder.sent[-1]
    assert "Alert digest" in digest and "45 more alerts" in digest
    assert "unauthorized: 45" in digest
    assert await dispatcher.deliver_due() == 0


async def test_nothing_is_lost_while_the_sender_is_down(clock: ManualClock) -> None:
    core = AccessCore(MemoryStore(), fast_settings(), clock)
    await core.guard.decide(Actor(telegram_id=777777777), "host.view")
    recorder = Recorder()
    recorder.down = True
    dispatcher = core.dispatcher([recorder])
    assert await dispatcher.deliver_due() == 0
    assert await dispatcher.deliver_due() == 0  # not due again yet: back-off
    recorder.down = False
    clock.advance(30)
    assert await dispatcher.deliver_due() == 1
    assert len(recorder.sent) == 1 and "Unauthorized" in recorder.sent[0]
    clock.advance(3600)
    assert await dispatcher.deliver_due() == 0
