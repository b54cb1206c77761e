"""Hub replicas take turns polling agents by a lease in the store, and carry its cursors.

Two replicas on one database (memory, SQLite, PostgreSQL), each with its own poller: however
the turns fall, every agent alert is raised once, and an agent going down and up gives one alert
each way. Agents are alert rings behind a switch (tests/fleet/test_poller.py's ``Feed``).
"""

from __future__ import annotations

from typing import Any

from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from hostwarden.fleet.lease import PollLease, poll_with_lease
from hostwarden.fleet.poller import FeedPoller
from tests.contract.test_pending_contract import twin  # noqa: F401 (a fixture)
from tests.fleet.test_poller import START, Feed


class Sink:
    """The outbox, as far as the poller is concerned: keeps every alert raised."""

    def __init__(self) -> None:
        self.raised: list[Alert] = []

    async def raise_alert(self, alert: Alert) -> None:
        self.raised.append(alert)


def replica(store: Any, clock: ManualClock, owner: str, sink: Sink) -> tuple[FeedPoller, PollLease]:
    return FeedPoller(sink, clock), PollLease(store.pending, clock, owner, seconds=45)


async def test_one_replica_polls_at_a_time_and_alerts_are_raised_once(
    store: Any,
    twin: Any,  # noqa: F811 (the fixture)
) -> None:
    clock = ManualClock(START)
    sink = Sink()
    a = replica(store, clock, "hub-a:1", sink)
    b = replica(twin, clock, "hub-b:1", sink)
    db1 = Feed("db1")
    assert await poll_with_lease(*a, [db1]) == []  # a takes the lease; first contact
    assert await poll_with_lease(*b, [db1]) is None  # b waits its turn
    await db1.alert("web exited with 1")
    clock.advance(15)
    assert await poll_with_lease(*b, [db1]) is None
    assert [alert.title for alert in await poll_with_lease(*a, [db1]) or []] == [
        "web exited with 1"
    ]
    # a dies; once its lease runs out b takes over where a stopped: the alert raised while
    # nobody polled is read, none is repeated.
    await db1.alert("raised while nobody polled")
    clock.advance(46)
    raised = await poll_with_lease(*b, [db1]) or []
    assert [alert.title for alert in raised] == ["raised while nobody polled"]
    await db1.alert("db exited with 137")
    clock.advance(15)
    assert await poll_with_lease(*a, [db1]) is None  # a is back, but b holds the lease now
    assert [alert.title for alert in await poll_with_lease(*b, [db1]) or []] == [
        "db exited with 137"
    ]
    assert [alert.title for alert in sink.raised] == [
        "web exited with 1", "raised while nobody polled", "db exited with 137",
    ]  # fmt: skip


async def test_a_lease_lost_mid_round_stores_nothing(store: Any, twin: Any) -> None:  # noqa: F811
    clock = ManualClock(START)
    _, a_lease = replica(store, clock, "hub-a:1", Sink())
    _, b_lease = replica(twin, clock, "hub-b:1", Sink())
    assert await a_lease.acquire() == {}
    clock.advance(46)  # a's round outlived its lease; b took it
    assert await b_lease.acquire() == {}
    assert not await a_lease.keep({"db1": {"after": 99}})
    assert await b_lease.keep({"db1": {"after": 5}})
    clock.advance(15)
    assert await b_lease.acquire() == {"db1": {"after": 5}}
    assert await a_lease.acquire() is None


async def test_the_lease_carries_the_cursor_and_the_down_state(
    store: Any,
    twin: Any,  # noqa: F811 (the fixture)
) -> None:
    """The poller's own memory is not what counts: the state the lease carries is."""
    clock = ManualClock(START)
    sink = Sink()
    db1 = Feed("db1")
    await poll_with_lease(*replica(store, clock, "hub-a:1", sink), [db1])
    await db1.alert("web exited with 1")
    db1.up = False
    clock.advance(15)
    await poll_with_lease(*replica(store, clock, "hub-a:1", sink), [db1])  # one "unreachable"
    # Every round below runs on a fresh poller (as after a restart), on either database handle.
    for handle in (twin, store, twin):
        clock.advance(15)
        assert await poll_with_lease(*replica(handle, clock, "hub-a:1", sink), [db1]) == []
    db1.up = True
    clock.advance(15)
    raised = await poll_with_lease(*replica(twin, clock, "hub-a:1", sink), [db1]) or []
    assert [alert.title for alert in raised] == ["Host reachable again", "web exited with 1"]
    titles = [alert.title for alert in sink.raised]
    assert titles == ["Host unreachable", "Host reachable again", "web exited with 1"]
