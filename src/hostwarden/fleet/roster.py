"""The hub's agents, kept in step with the store: who is enrolled is who the hub talks to.

:class:`AgentRoster` turns every enrolled host with a URL into a
:class:`~hostwarden.fleet.remote.RemoteHost` in the hub's :class:`~hostwarden.fleet.target.Fleet`,
and drops it again when ``hostwarden hosts remove`` (run in any process) deletes its record. Each
round of :meth:`AgentRoster.run` re-reads the records, polls every agent's alert feed, notes who
answered (``last_seen`` in the store) and renews certificates in the last third of their life.
Trust is not cached: every answer's certificate is checked against the store
(:meth:`HubEnrolment.trusted`), so a removal takes effect at the next request, not the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable

from hostwarden.core.clock import Clock
from hostwarden.errors import HostwardenError
from hostwarden.fleet.enrolment import HubEnrolment
from hostwarden.fleet.lease import PollLease, poll_with_lease
from hostwarden.fleet.pki import agent_dns_name
from hostwarden.fleet.poller import INTERVAL_SECONDS, FeedPoller
from hostwarden.fleet.remote import RemoteHost
from hostwarden.fleet.target import Fleet
from hostwarden.fleet.tls import hub_client_context
from hostwarden.storage.fleet import HostRecord

LOG = logging.getLogger("hostwarden.fleet")


def hub_context(enrolment: HubEnrolment) -> ssl.SSLContext:
    """The hub's client TLS context: its client certificate, trusting its own CA only."""
    ca = enrolment.ca
    return hub_client_context(ca.client_cert_file, ca.client_key_file, ca.ca_file)


class AgentRoster:
    """Adds, replaces and drops the fleet's remote hosts to match the enrolled records."""

    def __init__(
        self,
        fleet: Fleet,
        enrolment: HubEnrolment,
        poller: FeedPoller,
        clock: Clock,
        *,
        context: Callable[[], ssl.SSLContext] | None = None,
        timeout: float = 10.0,
        lease: PollLease | None = None,
    ) -> None:
        self._fleet = fleet
        self._enrolment = enrolment
        self.poller = poller
        self._clock = clock
        self._context = context or (lambda: hub_context(enrolment))
        self._timeout = timeout
        self._lease = lease
        self._agents: dict[str, tuple[str, RemoteHost]] = {}  # name -> (url, host)
        self._versions: dict[str, str] = {}  # asked once per agent and connection

    def agents(self) -> list[RemoteHost]:
        """The remote hosts the hub talks to now."""
        return [host for _, host in self._agents.values()]

    async def sync(self) -> list[HostRecord]:
        """Match the fleet to the enrolled records; the records read."""
        records = [record for record in await self._enrolment.hosts() if record.url]
        wanted = {record.name: record for record in records}
        for name in [name for name in self._agents if name not in wanted]:
            _, host = self._agents.pop(name)
            self._fleet.remove(name)
            self.poller.forget(name)
            self._versions.pop(name, None)
            await host.close()
            LOG.info("host %s removed from the fleet", name)
        for record in records:
            known = self._agents.get(record.name)
            if record.name == self._fleet.default or (known and known[0] == record.url):
                continue
            host = self._remote(record)
            self._fleet.add(host)
            self._agents[record.name] = (str(record.url), host)
            self._versions.pop(record.name, None)
            if known is not None:
                await known[1].close()
        return records

    def _remote(self, record: HostRecord) -> RemoteHost:
        name = record.name

        async def trust(fingerprint: str | None) -> bool:
            return await self._enrolment.trusted(fingerprint, name)

        return RemoteHost(
            name, str(record.url), self._context(), agent_dns_name(name),
            timeout=self._timeout, trust=trust,
        )  # fmt: skip

    async def round(self) -> list[HostRecord]:
        """One round: sync, poll every feed, note who answered, renew what is due; the records.

        With a ``lease`` (hub replicas), only the replica holding it polls and renews.
        """
        records = await self.sync()
        if await poll_with_lease(self.poller, self._lease, self.agents()) is None:
            return records  # another replica polls (and renews) this round
        for record in records:
            link = self.poller.link(record.name)
            if link is not None and link.reachable and link.last_seen is not None:
                version = await self._version(record.name)
                await self._enrolment.seen(record.name, link.last_seen, version)
            if record.name in self._agents and self._enrolment.renewal_due(record):
                await self._renew(record.name)
        return await self._enrolment.hosts()

    async def _version(self, name: str) -> str | None:
        if name not in self._versions and name in self._agents:
            with contextlib.suppress(HostwardenError):
                self._versions[name] = (await self._agents[name][1].version()).version
        return self._versions.get(name)

    async def _renew(self, name: str) -> None:
        host = self._agents[name][1]
        try:
            csr = await host.renewal_request()
            issued = await self._enrolment.sign_renewal(name, csr, host.install_certificate)
        except HostwardenError as exc:
            LOG.warning("certificate of %s not renewed: %s", name, exc)
            return
        LOG.info("certificate of %s renewed until %s", name, f"{issued.info.not_after:%Y-%m-%d}")

    async def run(self, stop: asyncio.Event, interval: float = INTERVAL_SECONDS) -> None:
        """Rounds every ``interval`` seconds until ``stop``; a failed round is logged."""
        while not stop.is_set():
            try:
                await self.round()
            except Exception as exc:  # the loop must outlive a passing failure (store down, ...)
                LOG.warning("fleet round failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def close(self) -> None:
        """Close every agent's connections."""
        for _, host in self._agents.values():
            await host.close()
        self._agents.clear()
