"""The agents of a running hub (the bot or the console), from the moment the hub has a CA.

``hostwarden hosts add`` makes the hub's CA on first use, possibly while the bot runs; so
:class:`HubAgents` looks for it each round and starts an
:class:`~hostwarden.fleet.roster.AgentRoster` once it is there. The bot polls agents' alert
feeds (``poll=True``); the console only keeps its fleet in step with the store, so that alerts
are raised by one process, never two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from hostwarden.core.service import AccessCore
from hostwarden.errors import HostwardenError
from hostwarden.fleet.enrolment import HubEnrolment
from hostwarden.fleet.lease import PollLease, replica_name
from hostwarden.fleet.overview import FleetOverview
from hostwarden.fleet.pki import CA_CERT, HubCA, ca_directory
from hostwarden.fleet.poller import INTERVAL_SECONDS, PAGES_PER_ROUND, FeedPoller
from hostwarden.fleet.roster import AgentRoster
from hostwarden.fleet.settings import FleetSettings
from hostwarden.fleet.target import Fleet

LOG = logging.getLogger("hostwarden.fleet")


class HubAgents:
    """Keeps the fleet's agents in step with the store every ``interval`` seconds.

    ``fleet`` gives the front end's fleet when the first round needs it (not before: tests and
    benchmarks replace the local host's engine after building the front end).
    """

    def __init__(
        self,
        fleet: Callable[[], Fleet],
        core: AccessCore,
        data_dir: Path,
        *,
        poll: bool,
        interval: float = INTERVAL_SECONDS,
        overview: FleetOverview | None = None,
        settings: FleetSettings | None = None,
    ) -> None:
        self._fleet = fleet
        self._core = core
        self._directory = ca_directory(data_dir)
        self._poll = poll
        self._settings = settings or FleetSettings()
        self.interval = interval if settings is None else settings.poll_seconds
        self._overview = overview
        self.roster: AgentRoster | None = None

    def _open(self) -> AgentRoster | None:
        if self.roster is None and (self._directory / CA_CERT).is_file():
            core = self._core
            ca = HubCA.load(self._directory)
            fleet = self._settings
            enrolment = HubEnrolment(core.store, ca, core.audit, core.clock, fleet.cert_days)
            poller = FeedPoller(core.alerts, core.clock)
            # Replicas on one database take turns by a lease. It outlives three missed rounds
            # and the slowest round (every agent's pages at the request timeout, once retried).
            slowest = (PAGES_PER_ROUND + 1) * fleet.request_timeout_seconds
            lease = PollLease(
                core.store.pending, core.clock, replica_name(), 3 * self.interval + slowest
            )
            self.roster = AgentRoster(
                self._fleet(), enrolment, poller, core.clock, lease=lease,
                timeout=fleet.request_timeout_seconds,
            )  # fmt: skip
        return self.roster

    async def round(self) -> None:
        """Start the roster if the CA appeared; then sync (and poll, for the bot)."""
        roster = self._open()
        if roster is None:
            return
        records = await roster.round() if self._poll else await roster.sync()
        if self._overview is not None:
            for record in records:
                if record.last_seen is not None:
                    self._overview.note(record.name, record.last_seen)

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until ``stop``; a failed round is logged and the next one tried."""
        while not stop.is_set():
            try:
                await self.round()
            except (HostwardenError, OSError) as exc:
                LOG.warning("fleet round failed: %s", exc)
            except Exception as exc:  # the loop must outlive a passing failure
                LOG.warning("fleet round failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
        if self.roster is not None:
            await self.roster.close()
