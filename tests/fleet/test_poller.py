"""The hub's poller of agents' alert feeds: alerts with the host named, one alert each way.

Agents here are their real alert rings behind a switch (up or down); time is a ManualClock.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.errors import Unavailable
from hostwarden.fleet.feed import PAGE, AlertRing, Page
from hostwarden.fleet.poller import FeedPoller
from hostwarden.storage.memory import MemoryStore

START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class Feed:
    """An agent's feed: its ring, answering while ``up``."""

    def __init__(self, name: str, ring: AlertRing | None = None) -> None:
        self.name = name
        self.ring = ring or AlertRing(size=50)
        self.up = True
        self.asked: list[tuple[int, str | None]] = []

    async def events(self, after: int, boot: str | None) -> Page:
        self.asked.append((after, boot))
        if not self.up:
            raise Unavailable(f"host {self.name} is unreachable (connection refused)")
        return self.ring.page(after, boot)

    async def alert(self, title: str, kind: str = "container") -> None:
        await self.ring.raise_alert(Alert(kind, title, START, detail=f"{title} detail"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def core(clock: ManualClock) -> AccessCore:
    return AccessCore(MemoryStore(), clock=clock)


async def outbox(core: AccessCore, clock: ManualClock) -> list[str]:
    return [row.text for row in await core.store.outbox.due(clock.now(), 100)]


async def test_alerts_enter_the_outbox_naming_their_host(
    core: AccessCore, clock: ManualClock
) -> None:
    poller = FeedPoller(core.alerts, clock)
    db1 = Feed("db1")
    await db1.alert("held before the hub came")
    assert await poller.poll(db1) == []  # first contact: what it held is not repeated
    await db1.alert("web exited with 1")
    [alert] = await poller.poll(db1)
    assert (alert.host, alert.title, alert.kind) == ("db1", "web exited with 1", "container")
    [text] = await outbox(core, clock)
    assert text.split("\n")[:2] == ["<b>web exited with 1</b>", "Host: db1"]
    assert await poller.poll(db1) == []  # the cursor moved on
    link = poller.link("db1")
    assert link is not None and link.reachable and link.last_seen == START


async def test_an_unreachable_agent_alerts_once_then_once_when_back(
    core: AccessCore, clock: ManualClock
) -> None:
    poller = FeedPoller(core.alerts, clock)
    db2 = Feed("db2")
    await poller.poll(db2)
    db2.up = False
    clock.advance(60)
    lost = await poller.poll(db2)
    assert [a.title for a in lost] == ["Host unreachable"]
    assert "last seen 2026-05-01 12:00:00 UTC" in lost[0].detail
    for _ in range(5):
        clock.advance(60)
        assert await poller.poll(db2) == []
    link = poller.link("db2")
    assert link is not None and not link.reachable and link.last_seen == START
    assert "connection refused" in link.problem
    db2.up = True
    await db2.alert("raised while the hub could not read")
    clock.advance(60)
    back = await poller.poll(db2)
    assert [a.title for a in back] == [
        "Host reachable again",
        "raised while the hub could not read",
    ]
    assert "6 min" in back[0].detail or "6m" in back[0].detail
    assert await poller.poll(db2) == []
    texts = await outbox(core, clock)
    assert sum("Host unreachable" in t for t in texts) == 1
    assert sum("Host reachable again" in t for t in texts) == 1
    assert all("Host: db2" in t for t in texts)


async def test_an_agent_down_since_the_hub_started_alerts_once(
    core: AccessCore, clock: ManualClock
) -> None:
    poller = FeedPoller(core.alerts, clock)
    db3 = Feed("db3")
    db3.up = False
    assert [a.title for a in await poller.poll(db3)] == ["Host unreachable"]
    assert await poller.poll(db3) == []
    assert "not seen since the hub started" in (await outbox(core, clock))[0]


async def test_a_restarted_agent_is_read_from_its_first_alert(
    core: AccessCore, clock: ManualClock
) -> None:
    poller = FeedPoller(core.alerts, clock)
    db1 = Feed("db1")
    await db1.alert("one")
    await db1.alert("two")
    await poller.poll(db1)
    db1.ring = AlertRing(size=50)  # a new run: a new boot, numbering from 1 again
    await db1.alert("after the restart")
    assert [a.title for a in await poller.poll(db1)] == ["after the restart"]
    first_boot = db1.asked[1][1]
    assert first_boot is not None and db1.asked[-1] == (2, first_boot)


async def test_alerts_dropped_by_a_full_ring_are_counted_once(
    core: AccessCore, clock: ManualClock
) -> None:
    poller = FeedPoller(core.alerts, clock)
    db1 = Feed("db1", AlertRing(size=5))
    await poller.poll(db1)
    for number in range(12):
        await db1.alert(f"alert {number}")
    titles = [a.title for a in await poller.poll(db1)]
    assert titles == ["7 alerts lost"] + [f"alert {n}" for n in range(7, 12)]


async def test_a_long_backlog_is_read_a_few_pages_per_round(
    core: AccessCore, clock: ManualClock
) -> None:
    poller = FeedPoller(core.alerts, clock, pages_per_round=2)
    db1 = Feed("db1", AlertRing(size=1000))
    await poller.poll(db1)
    for number in range(PAGE * 3):
        await db1.alert(f"a{number}", kind="threshold")
    assert len(await poller.poll(db1)) == PAGE * 2
    assert len(await poller.poll(db1)) == PAGE
    # Above the configured rate, the outbox folds alerts into one digest per minute.
    clock.advance(120)  # digests are due after their minute
    rows = await core.store.outbox.due(clock.now(), 1000)
    assert any(row.bucket for row in rows) and len(rows) < PAGE * 3


async def test_poll_all_reads_every_agent_and_one_down_does_not_stop_the_others(
    core: AccessCore, clock: ManualClock
) -> None:
    poller = FeedPoller(core.alerts, clock)
    feeds = [Feed("db1"), Feed("db2"), Feed("db3")]
    await poller.poll_all(feeds)
    feeds[1].up = False
    await feeds[2].alert("db3 alert")
    raised = await poller.poll_all(feeds)
    assert sorted((a.host, a.title) for a in raised) == [
        ("db2", "Host unreachable"),
        ("db3", "db3 alert"),
    ]


async def test_the_ring_pages_after_a_cursor_and_restarts_for_another_boot() -> None:
    ring = AlertRing(size=3, boot="run1")
    assert ring.page(0, "run1") == Page(boot="run1", latest=0, missed=0, events=())
    for number in range(5):
        await ring.raise_alert(Alert("<b>odd kind</b>", f"t{number}", START))
    page = ring.page(1, "run1")
    assert [e.seq for e in page.events] == [3, 4, 5] and page.missed == 1
    assert {e.kind for e in page.events} == {"agent"}
    assert [e.seq for e in ring.page(4, "run1").events] == [5]
    assert [e.seq for e in ring.page(4, "run0").events] == [3, 4, 5]  # another run's cursor
    assert [e.seq for e in ring.page(99, "run1").events] == [3, 4, 5]  # a cursor from the future
