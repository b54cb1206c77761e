"""The per-minute alert budget is per source: an agent's flood folds only its own alerts.

An agent (its host compromised, or its key stolen) that raises more than the per-minute rate
must not turn the hub's own security alerts (a stranger's attempts, the block that follows)
into bare digest counts, nor another host's alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AlertSettings
from hostwarden.fleet.feed import AlertRing, Page
from hostwarden.fleet.poller import FeedPoller
from hostwarden.storage.memory import MemoryStore
from tests.conftest import fast_settings

START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
STRANGER = Actor(telegram_id=555123456, username="mallory")


class Recorder:
    name = "telegram:42"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)


class Agent:
    """An agent's feed over its real alert ring."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ring = AlertRing(size=500)

    async def events(self, after: int, boot: str | None) -> Page:
        return self.ring.page(after, boot)


async def delivered(core: AccessCore, clock: ManualClock) -> list[str]:
    """Everything the admin chat gets for this minute: the singles, then the digest."""
    recorder = Recorder()
    dispatcher = core.dispatcher([recorder])
    await dispatcher.deliver_due(limit=1000)
    clock.advance(120)
    await dispatcher.deliver_due(limit=1000)
    return recorder.sent


async def test_a_flooding_agent_leaves_the_hubs_security_alerts_whole() -> None:
    clock = ManualClock(START)
    core = AccessCore(MemoryStore(), fast_settings(), clock)
    poller = FeedPoller(core.alerts, clock)
    evil = Agent("db1")
    await poller.poll_all([evil])  # first contact
    for n in range(100):
        await evil.ring.raise_alert(Alert("noise", f"noise {n}", START))
    assert len(await poller.poll_all([evil])) == 100
    for _ in range(4):  # a stranger hammering the bot, then blocked
        await core.guard.decide(STRANGER, "host.view")

    sent = await delivered(core, clock)
    blocked = [t for t in sent if "Unknown user blocked" in t]
    assert len(blocked) == 1 and "ID 55*****56" in blocked[0] and "Attempt: 3, 0 left" in blocked[0]
    assert sum("Unauthorized access attempt" in t for t in sent) == 1  # suppressed after one
    assert sum("Host: db1" in t and "noise" in t for t in sent) == 20  # its own budget
    [digest] = [t for t in sent if "Alert digest" in t]
    assert "80 more alerts" in digest and "noise on db1: 80" in digest
    assert "blocked" not in digest and "unauthorized" not in digest


async def test_each_agent_folds_only_its_own_alerts(clock: ManualClock) -> None:
    settings = fast_settings(alerts=AlertSettings(digest_above_per_minute=3))
    core = AccessCore(MemoryStore(), settings, clock)
    for n in range(10):
        await core.alerts.raise_alert(Alert("container", f"db1 {n}", clock.now(), host="db1"))
    for n in range(2):
        await core.alerts.raise_alert(Alert("container", f"web {n}", clock.now(), host="web"))
    await core.alerts.raise_alert(Alert("disk", "Disk almost full", clock.now()))

    sent = await delivered(core, clock)
    assert [t.split("\n", 1)[0] for t in sent[:-1]] == [
        "<b>db1 0</b>", "<b>db1 1</b>", "<b>db1 2</b>",
        "<b>web 0</b>", "<b>web 1</b>", "<b>Disk almost full</b>",
    ]  # fmt: skip
    assert "7 more alerts" in sent[-1] and "container on db1: 7" in sent[-1]


async def test_the_hubs_own_flood_still_folds_into_one_digest(clock: ManualClock) -> None:
    settings = fast_settings(alerts=AlertSettings(digest_above_per_minute=5))
    core = AccessCore(MemoryStore(), settings, clock)
    for n in range(30):  # strangers: the hub's own alerts, one budget
        await core.guard.decide(Actor(telegram_id=10_000 + n), "host.view")
    await core.alerts.raise_alert(Alert("container", "web stopped", clock.now(), host="web"))

    sent = await delivered(core, clock)
    assert sum("Unauthorized access attempt" in t for t in sent) == 5
    assert any("web stopped" in t and "Host: web" in t for t in sent)  # not the hub's budget
    assert "25 more alerts" in sent[-1] and "unauthorized: 25" in sent[-1]
