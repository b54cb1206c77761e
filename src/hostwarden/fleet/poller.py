"""The hub's side of the agents' alerts: poll each feed, raise what it holds, watch who answers.

Each round asks every agent for the alerts after its cursor (``GET /v1/events``) and raises each
into the core's outbox (:meth:`~hostwarden.core.alerts.AlertOutbox.raise_alert`: rate folding,
digests, delivery) with the host named. Agents' texts are plain data there: ``Alert.render``
escapes them. An agent that does not answer (or answers nonsense) gives exactly one "unreachable"
alert, and one "reachable again" when it answers; :meth:`FeedPoller.link` says when each was
last seen. On first contact the alerts an agent already held are skipped (a restarted hub would
repeat them); after an agent's restart (a new ``boot``) its new alerts are all read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hostwarden.containers.follower import AlertSink
from hostwarden.core.alerts import Alert
from hostwarden.core.clock import Clock
from hostwarden.errors import HostwardenError
from hostwarden.fleet.feed import PAGE, Page
from hostwarden.units import human_duration

LOG = logging.getLogger("hostwarden.fleet")

#: Pages of alerts read from one agent per round (the rest wait for the next round).
PAGES_PER_ROUND = 5
INTERVAL_SECONDS = 15.0

Wait = Callable[[float], Awaitable[None]]


class AgentFeed(Protocol):
    """What the poller needs of an agent: :class:`~hostwarden.fleet.remote.RemoteHost`."""

    @property
    def name(self) -> str: ...

    async def events(self, after: int, boot: str | None) -> Page: ...


@dataclass
class AgentLink:
    """What the hub knows of one agent: its feed's cursor and when it last answered."""

    name: str
    boot: str | None = None
    after: int = 0
    last_seen: datetime | None = None
    down_since: datetime | None = None
    problem: str = ""

    @property
    def reachable(self) -> bool:
        """Whether its last poll was answered (``False`` before any)."""
        return self.last_seen is not None and self.down_since is None


class FeedPoller:
    """Polls agents' feeds into ``alerts`` (the core's outbox); time comes from ``clock``."""

    def __init__(
        self, alerts: AlertSink, clock: Clock, pages_per_round: int = PAGES_PER_ROUND
    ) -> None:
        self._alerts = alerts
        self._clock = clock
        self._pages = max(pages_per_round, 1)
        self._links: dict[str, AgentLink] = {}

    def link(self, name: str) -> AgentLink | None:
        """What is known of agent ``name`` (``None`` if never polled)."""
        return self._links.get(name)

    def forget(self, name: str) -> None:
        """Drop a removed host's state."""
        self._links.pop(name, None)

    def export(self) -> dict[str, Any]:
        """Each agent's cursor and contact state, as JSON values (carried by the lease)."""
        return {
            name: {
                "boot": link.boot, "after": link.after, "problem": link.problem,
                "last_seen": _iso(link.last_seen), "down_since": _iso(link.down_since),
            }
            for name, link in self._links.items()
        }  # fmt: skip

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (another replica's :meth:`export`), replacing what this one
        knew; a malformed entry is dropped (that agent starts as on first contact)."""
        self._links = {}
        for name, item in state.items():
            try:
                self._links[name] = AgentLink(
                    name, item["boot"], int(item["after"]),
                    _time(item["last_seen"]), _time(item["down_since"]), str(item["problem"]),
                )  # fmt: skip
            except (KeyError, TypeError, ValueError):
                continue

    async def poll_all(self, agents: Iterable[AgentFeed]) -> list[Alert]:
        """One round over ``agents``, concurrently; every alert raised."""
        rounds = await asyncio.gather(*(self.poll(agent) for agent in agents))
        return [alert for raised in rounds for alert in raised]

    async def poll(self, agent: AgentFeed) -> list[Alert]:
        """One round for one agent: its new alerts, or its loss or return; all raised."""
        link = self._links.setdefault(agent.name, AgentLink(agent.name))
        try:
            found = await self._read(agent, link)
        except HostwardenError as exc:
            found = self._lost(link, str(exc))
        else:
            found = self._answered(link) + found
        for alert in found:
            await self._raise(alert)
        return found

    async def _read(self, agent: AgentFeed, link: AgentLink) -> list[Alert]:
        found: list[Alert] = []
        for _ in range(self._pages):
            page = await agent.events(link.after, link.boot)
            first_contact = link.boot is None
            if page.boot != link.boot:
                link.boot, link.after = page.boot, 0
            if first_contact:
                link.after = page.latest  # what it held before: not ours to repeat
                return found
            if page.missed:
                found.append(self._missed(link, page.missed))
            fresh = [event for event in page.events if event.seq > link.after]
            now = self._clock.now()
            found += [Alert(e.kind, e.title, now, detail=e.detail, host=link.name) for e in fresh]
            if fresh:
                link.after = max(event.seq for event in fresh)
            if len(page.events) < PAGE or not fresh:
                break
        return found

    def _missed(self, link: AgentLink, count: int) -> Alert:
        detail = "Its agent dropped them before the hub could read them (too many at once)."
        return Alert(
            "agent", f"{count} alerts lost", self._clock.now(), detail=detail, host=link.name
        )

    def _lost(self, link: AgentLink, problem: str) -> list[Alert]:
        link.problem = problem[:200]
        if link.down_since is not None:
            return []
        now = self._clock.now()
        link.down_since = now
        LOG.warning("agent %s unreachable: %s", link.name, link.problem)
        seen = (
            f"last seen {link.last_seen:%Y-%m-%d %H:%M:%S} UTC"
            if link.last_seen is not None
            else "not seen since the hub started"
        )
        detail = f"The hub cannot reach its agent ({link.problem}); {seen}."
        return [Alert("agent", "Host unreachable", now, detail=detail, host=link.name)]

    def _answered(self, link: AgentLink) -> list[Alert]:
        now = self._clock.now()
        down_since, link.down_since, link.problem = link.down_since, None, ""
        link.last_seen = now
        if down_since is None:
            return []
        LOG.info("agent %s reachable again", link.name)
        away = human_duration((now - down_since).total_seconds())
        detail = f"Its agent answers again, after {away}."
        return [Alert("agent", "Host reachable again", now, detail=detail, host=link.name)]

    async def _raise(self, alert: Alert) -> None:
        try:
            await self._alerts.raise_alert(alert)
        except Exception as exc:  # the store may be down; the store-loss alert covers it
            LOG.warning("agent alert not queued: %s", type(exc).__name__)

    async def run(
        self,
        agents: Callable[[], Iterable[AgentFeed]],
        stop: asyncio.Event,
        interval: float = INTERVAL_SECONDS,
        wait: Wait | None = None,
    ) -> None:
        """Poll ``agents()`` every ``interval`` seconds until ``stop``; failures are logged."""
        pause = wait or (lambda seconds: _wait(stop, seconds))
        while not stop.is_set():
            try:
                await self.poll_all(agents())
            except Exception as exc:  # the loop must outlive a passing failure
                LOG.warning("agent poll round failed: %s", type(exc).__name__)
            await pause(interval)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _time(text: object) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError("not a time")
    return datetime.fromisoformat(text)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
