"""Alert delivery per recipient: one failing recipient never makes the others get an alert twice."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from hostwarden.core.alerts import Alert, mask_recipient
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AlertSettings
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.memory import MemoryStore
from tests.conftest import fast_settings

GOOD_CHAT = "telegram:111111111"
BAD_CHAT = "telegram:222222222"
DAY = 86_400


class Recipient:
    """A notifier that records what it got; it fails its first ``failures`` sends (-1: always)."""

    def __init__(self, name: str, clock: ManualClock, failures: int = 0) -> None:
        self.name = name
        self.sent: list[str] = []
        self.tries: list[datetime] = []
        self._clock = clock
        self._failures = failures

    async def send(self, text: str) -> None:
        self.tries.append(self._clock.now())
        if self._failures < 0 or len(self.tries) <= self._failures:
            raise ConnectionError("Bad Request: chat not found")
        self.sent.append(text)


async def raise_alerts(core: AccessCore, count: int) -> None:
    for n in range(count):
        await core.alerts.raise_alert(
            Alert("unauthorized", f"Unauthorized access attempt {n}", core.clock.now())
        )


async def run_rounds(core: AccessCore, recipients: list[Recipient], seconds: int) -> None:
    """Deliver every 60 simulated seconds for ``seconds``, as the bot's loop would."""
    dispatcher = core.dispatcher(list(recipients))
    for _ in range(seconds // 60):
        await dispatcher.deliver_due()
        core.clock.advance(60)  # type: ignore[attr-defined]


async def undeliverable(core: AccessCore) -> list[dict[str, object]]:
    events = await core.audit.query(AuditQuery(kind=Kind.ALERT_UNDELIVERABLE, limit=1000))
    return [e.detail for e in events]


async def test_one_recipient_failing_forever_does_not_repeat_alerts_to_the_others(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    core = AccessCore(MemoryStore(), fast_settings(), clock)
    start = clock.now()
    await raise_alerts(core, 1)
    good, bad, apprise = (
        Recipient(GOOD_CHAT, clock),
        Recipient(BAD_CHAT, clock, failures=-1),
        Recipient("apprise:1", clock),
    )
    await run_rounds(core, [good, bad, apprise], 2 * DAY)

    [text] = good.sent
    assert "Unauthorized access attempt 0" in text and apprise.sent == [text]
    # The failing chat alone was retried, backing off from 30 s up to an hour, then given up.
    gaps = [(b - a).total_seconds() for a, b in zip(bad.tries, bad.tries[1:], strict=False)]
    assert gaps[0] >= 30 and gaps == sorted(gaps) and max(gaps) <= 3600 + 60
    assert start + timedelta(days=1) <= bad.tries[-1] <= start + timedelta(days=1, seconds=3660)
    [event] = await undeliverable(core)
    assert event == {
        "recipient": "telegram:22*****22",
        "attempts": len(bad.tries),
        "error": "ConnectionError",
    }
    gave_up = [
        r for r in caplog.records if r.name == "hostwarden.alerts" and "gave up" in r.message
    ]
    assert len(gave_up) == 1 and "telegram:22*****22" in gave_up[0].getMessage()
    assert not any("222222222" in r.getMessage() for r in caplog.records)
    assert not any("111111111" in r.getMessage() for r in caplog.records)

    tries = len(bad.tries)
    await run_rounds(core, [good, bad, apprise], DAY)
    assert len(bad.tries) == tries and len(good.sent) == len(apprise.sent) == 1
    assert await core.store.outbox.due(clock.now() + timedelta(days=60), 10) == []
    assert len(await undeliverable(core)) == 1


async def test_a_recipient_that_recovers_gets_each_alert_once(clock: ManualClock) -> None:
    core = AccessCore(MemoryStore(), fast_settings(), clock)
    await raise_alerts(core, 3)
    good, flaky = Recipient(GOOD_CHAT, clock), Recipient(BAD_CHAT, clock, failures=4)
    await run_rounds(core, [good, flaky], 6 * 3600)
    expected = [f"Unauthorized access attempt {n}" for n in range(3)]
    assert [t.split("</b>")[0][3:] for t in good.sent] == expected
    assert sorted(t.split("</b>")[0][3:] for t in flaky.sent) == expected
    assert len(flaky.tries) == 4 + 3
    assert await undeliverable(core) == []
    assert await core.store.outbox.due(clock.now() + timedelta(days=60), 10) == []


async def test_digests_reach_every_recipient_once_while_one_fails(clock: ManualClock) -> None:
    settings = fast_settings(alerts=AlertSettings(digest_above_per_minute=5))
    core = AccessCore(MemoryStore(), settings, clock)
    await raise_alerts(core, 50)
    good, apprise = Recipient(GOOD_CHAT, clock), Recipient("apprise:2", clock)
    bad = Recipient(BAD_CHAT, clock, failures=-1)
    await run_rounds(core, [good, bad, apprise], 2 * DAY)
    for recipient in (good, apprise):
        assert len(recipient.sent) == 6  # five alerts, then one digest of the other 45
        assert "45 more alerts" in recipient.sent[-1] and "unauthorized: 45" in recipient.sent[-1]
    assert [e["recipient"] for e in await undeliverable(core)] == ["telegram:22*****22"] * 6


async def test_give_up_time_is_a_bounded_setting(clock: ManualClock) -> None:
    assert AlertSettings().give_up_seconds == DAY
    for wrong in (59, 30 * DAY + 1):
        with pytest.raises(ValidationError):
            AlertSettings(give_up_seconds=wrong)
    core = AccessCore(
        MemoryStore(), fast_settings(alerts=AlertSettings(give_up_seconds=600)), clock
    )
    start = clock.now()
    await raise_alerts(core, 1)
    bad = Recipient(BAD_CHAT, clock, failures=-1)
    await run_rounds(core, [bad], 3600)
    assert start + timedelta(seconds=600) <= bad.tries[-1] <= start + timedelta(seconds=1200)
    assert len(await undeliverable(core)) == 1


def test_recipient_names_are_masked_for_logs() -> None:
    assert mask_recipient("telegram:123456789") == "telegram:12*****89"
    assert mask_recipient("telegram:-1001234567890") == "telegram:-1********90"
    assert mask_recipient("apprise:3") == "apprise:3"
    assert "secret" not in mask_recipient("apprise:https://user:secret@example.org")
    assert "<" not in mask_recipient("<b>:<i>hello world</i>") + mask_recipient("<b>x</b>")
