"""An agent's host, as the hub sees it: :class:`RemoteHost` implements ``ManagedHost``.

Reads and actions go to the agent's API through :class:`~hostwarden.fleet.client.AgentClient`
(mutual TLS, deadlines, capped and strictly parsed answers). Names are checked before they are
put in a path. Besides the protocol, the hub's poller reads the agent's alert feed
(:meth:`RemoteHost.events`), the host list shows its version (:meth:`RemoteHost.version`), and
renewal asks the agent for a CSR (:meth:`RemoteHost.renewal_request`) and sends it the signed
certificate (:meth:`RemoteHost.install_certificate`), which the agent uses for new connections
at once, without a restart.
"""

from __future__ import annotations

import ssl
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from pydantic import Field

from hostwarden.containers.engine import (
    ContainerDetails,
    ContainerSummary,
    ImageSummary,
    check_container_name,
)
from hostwarden.containers.registry import ImageUpdate
from hostwarden.fleet.client import AgentClient, Sleep, Trust
from hostwarden.fleet.feed import Page
from hostwarden.fleet.target import TOP_PROCESSES, HostReport, check_host_name
from hostwarden.fleet.wire import API, Report, Wire
from hostwarden.fleet.wire_containers import (
    Container,
    Containers,
    Details,
    Images,
    Logs,
    UpdateQuery,
    Updates,
    Version,
)

MAX_LOG_LINES = 5000


class _Csr(Wire):
    csr: Annotated[str, Field(min_length=1, max_length=8 * 1024)]


class _Installed(Wire):
    not_after: datetime


class _Certificate(Wire):
    certificate: str


class RemoteEngine:
    """An agent's containers and images (``ContainerControl``)."""

    def __init__(self, client: AgentClient) -> None:
        self._client = client

    async def containers(self) -> list[ContainerSummary]:
        found = await self._client.get(f"{API}/containers", Containers)
        return sorted((c.to_summary() for c in found.containers), key=lambda s: s.name)

    async def details(self, name: str) -> ContainerDetails:
        path = f"{API}/containers/{_quoted(name)}"
        return (await self._client.get(path, Details)).to_details()

    async def logs(self, name: str, lines: int) -> str:
        lines = max(1, min(lines, MAX_LOG_LINES))
        path = f"{API}/containers/{_quoted(name)}/logs"
        return (await self._client.get(path, Logs, {"lines": str(lines)})).text

    async def images(self) -> list[ImageSummary]:
        found = await self._client.get(f"{API}/images", Images)
        return [image.to_summary() for image in found.images]

    async def start(self, name: str) -> ContainerSummary:
        return await self._act(name, "start")

    async def stop(self, name: str) -> ContainerSummary:
        return await self._act(name, "stop")

    async def restart(self, name: str) -> ContainerSummary:
        return await self._act(name, "restart")

    async def _act(self, name: str, verb: str) -> ContainerSummary:
        path = f"{API}/containers/{_quoted(name)}/{verb}"
        return (await self._client.send("POST", path, Container)).to_summary()

    async def close(self) -> None:
        await self._client.close()


class RemoteHost:
    """A host reached through its agent; ``name`` is how users and audit events call it."""

    def __init__(
        self,
        name: str,
        base_url: str,
        context: ssl.SSLContext,
        server_hostname: str | None = None,
        *,
        timeout: float = 10.0,
        sleep: Sleep | None = None,
        trust: Trust | None = None,
    ) -> None:
        """``server_hostname`` is the name the agent's certificate must bear; ``trust`` is asked
        about that certificate's fingerprint on every answer (see :class:`AgentClient`)."""
        self._name = check_host_name(name)
        self.client = AgentClient(
            self._name, base_url, context, server_hostname, timeout=timeout, sleep=sleep,
            trust=trust,
        )  # fmt: skip
        self._engine = RemoteEngine(self.client)

    @property
    def name(self) -> str:
        return self._name

    @property
    def engine(self) -> RemoteEngine:
        return self._engine

    async def report(self, top: int = TOP_PROCESSES) -> HostReport:
        top = max(1, min(top, 50))
        found = await self.client.get(f"{API}/report", Report, {"top": str(top)})
        return found.to_report()

    async def image_updates(self, images: list[ImageSummary]) -> list[ImageUpdate]:
        """The agent checks its own images that bear these tags (their digests are its own)."""
        references = tuple(dict.fromkeys(tag for image in images for tag in image.tags))
        if not references:
            return []
        query = UpdateQuery(references=references)
        found = await self.client.send("POST", f"{API}/images/updates", Updates, query)
        return [update.to_update() for update in found.updates]

    async def version(self) -> Version:
        """The agent's version and whether it is read-only."""
        return await self.client.get(f"{API}/version", Version)

    async def events(self, after: int, boot: str | None) -> Page:
        """The agent's alerts after cursor ``after`` of run ``boot`` (see ``fleet.feed``)."""
        params = {"after": str(max(after, 0))}
        if boot is not None:
            params["boot"] = boot
        return await self.client.get(f"{API}/events", Page, params)

    async def renewal_request(self) -> str:
        """Ask the agent for a new key and its CSR (PEM); the hub checks and signs it."""
        return (await self.client.send("POST", f"{API}/renew", _Csr)).csr

    async def install_certificate(self, pem: str) -> datetime:
        """Send the signed certificate; the agent serves it from its next connection on."""
        body = _Certificate(certificate=pem)
        return (await self.client.send("PUT", f"{API}/certificate", _Installed, body)).not_after

    async def close(self) -> None:
        await self.client.close()


def _quoted(name: str) -> str:
    return quote(check_container_name(name), safe="")
