"""The hub's side of enrolment and trust: tokens out, certificates in, and who is still trusted.

:class:`HubEnrolment` is what ``hostwarden hosts ...``, the console's ``POST /fleet/enroll`` and
the hub's agent client call. It holds no state of its own: hosts and pending tokens are in the
store (:mod:`hostwarden.storage.fleet`), keys in the :class:`~hostwarden.fleet.pki.HubCA`.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import Clock
from hostwarden.errors import Conflict, HostwardenError, InvalidInput, NotFound
from hostwarden.fleet.pki import CERT_DAYS, HubCA, IssuedCertificate, check_cert_days, read_csr
from hostwarden.fleet.target import check_host_name
from hostwarden.fleet.tokens import TOKEN_SECONDS, EnrolmentToken, check_token_seconds
from hostwarden.storage.fleet import (
    CertInfo,
    EnrolmentStore,
    HostRecord,
    HostStore,
    PendingEnrolment,
    with_url,
)
from hostwarden.storage.pending import Pending, PendingStore

MAX_URL = 300
#: The pending-store kind of a renewal sent to an agent and not yet confirmed.
RENEWAL = "fleet.renewal"
LOG = logging.getLogger("hostwarden.fleet")

#: Sends a signed certificate (PEM) to its agent.
Install = Callable[[str], Awaitable[object]]


class EnrolmentRefused(HostwardenError):
    """A token that is wrong, expired, used, or for another hub: one answer for all of them."""

    code = "enrolment_refused"

    def __init__(self) -> None:
        super().__init__("enrolment refused")


class FleetStore(Protocol):
    """The part of a store enrolment uses."""

    @property
    def hosts(self) -> HostStore: ...
    @property
    def enrolments(self) -> EnrolmentStore: ...
    @property
    def pending(self) -> PendingStore: ...


@dataclass(frozen=True, slots=True)
class Enrolled:
    """What an agent gets for a good token: its certificate, the CA, the hub's pin (and the
    hub client certificate it pins, which the agent checks against the CA and the pin)."""

    host: HostRecord
    certificate: str
    ca: str
    hub_client_fingerprint: str
    hub_client_certificate: str


def check_agent_url(url: str) -> str:
    """``url`` if it is where the hub can reach an agent: ``https://HOST[:PORT]``, nothing more."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("an agent URL is https://HOST:PORT") from None
    plain = not (parts.username or parts.password or parts.query or parts.fragment)
    if len(url) > MAX_URL or parts.scheme != "https" or not parts.hostname or not plain:
        raise InvalidInput("an agent URL is https://HOST:PORT")
    if parts.path not in ("", "/") or port == 0:
        raise InvalidInput("an agent URL is https://HOST:PORT")
    return url.rstrip("/")


async def remove_host(hosts: HostStore, audit: AuditTrail, name: str, actor: str) -> bool:
    """Delete host ``name`` (and its pending token) and audit it; ``False`` if it was unknown.

    Needs no CA: what the hub trusts is the store's record, gone from here on.
    """
    event = audit.draft(Kind.HOST_REMOVED, actor, f"host:{check_host_name(name)}")
    if not await hosts.remove(name, event):  # the event commits with the removal
        return False
    audit.logged(event)
    return True


class HubEnrolment:
    """Issues tokens, enrols agents, renews and removes them, and answers ``trusted``."""

    def __init__(
        self,
        store: FleetStore,
        ca: HubCA,
        audit: AuditTrail,
        clock: Clock,
        cert_days: int = CERT_DAYS,
    ) -> None:
        self._hosts = store.hosts
        self._enrolments = store.enrolments
        self._pending = store.pending
        self.ca = ca
        self._audit = audit
        self._clock = clock
        self.cert_days = check_cert_days(cert_days)

    async def invite(
        self, name: str, url: str | None, actor: str, seconds: int = TOKEN_SECONDS
    ) -> EnrolmentToken:
        """A single-use token for host ``name`` (replacing any earlier one), valid ``seconds``.

        An enrolled host must be removed first. The token's text is for the operator's eyes only.
        """
        check_host_name(name)
        url = check_agent_url(url) if url is not None else None
        now = self._clock.now()
        if await self._hosts.get(name) is not None:
            raise Conflict(f"host {name} is enrolled: `hostwarden hosts remove {name}` first")
        token = EnrolmentToken.new(name, self.ca.ca_fingerprint)
        expires = now + timedelta(seconds=check_token_seconds(seconds))
        await self._enrolments.put(
            PendingEnrolment(name, token.secret_hash, url, now, expires), now
        )
        await self._audit.record(
            Kind.ADMIN_ACTION, actor, f"host:{name}", action="hosts.add",
            expires=expires.isoformat(),
        )  # fmt: skip
        return token

    async def enrol(self, token_text: object, csr_pem: object, actor: str) -> Enrolled:
        """Redeem a token for a certificate on the CSR's key.

        A CSR that cannot be used raises :class:`InvalidInput` (the token is left alone); any
        token that does not enrol raises :class:`EnrolmentRefused`.
        """
        if not isinstance(csr_pem, str):
            raise InvalidInput("that is not a certificate signing request")
        read_csr(csr_pem)
        try:
            token = EnrolmentToken.parse(token_text)
        except InvalidInput:
            raise EnrolmentRefused from None
        if not hmac.compare_digest(token.ca_hash, self.ca.ca_fingerprint):
            raise EnrolmentRefused
        now = self._clock.now()
        issued = self.ca.sign_agent(csr_pem, token.name, now, self.cert_days)
        info = issued.info
        event = self._audit.draft(
            Kind.HOST_ENROLLED, actor, f"host:{token.name}", serial=info.serial,
            fingerprint=info.fingerprint, not_after=info.not_after.isoformat(),
        )  # fmt: skip
        # The token goes, the host comes and the event is written in one transaction.
        host = await self._enrolments.redeem(token.secret_hash, token.name, now, info, event)
        if host is None:
            raise EnrolmentRefused
        self._audit.logged(with_url(event, host.url))
        return Enrolled(
            host, issued.pem, self.ca.ca_pem, self.ca.client_fingerprint, self.ca.client_pem
        )

    async def trusted(self, fingerprint: str | None, name: str) -> bool:
        """Whether ``fingerprint`` is the live certificate of enrolled host ``name``.

        The hub asks this after every handshake with an agent: a removed host, a replaced
        certificate or an expired one is refused, whatever the CA signed. The one exception is
        the certificate of a renewal the agent received but whose answer the hub never read: it
        becomes the host's certificate the first time the agent shows it.
        """
        if fingerprint is None:
            return False
        host = await self._hosts.get(name)
        if host is None or host.not_after <= self._clock.now():
            return False
        if hmac.compare_digest(host.fingerprint.encode(), fingerprint.encode("ascii", "replace")):
            return True
        return await self._adopt_renewal(host, fingerprint)

    async def _adopt_renewal(self, host: HostRecord, fingerprint: str) -> bool:
        now = self._clock.now()
        entry = await self._pending.peek(RENEWAL, host.name, now)
        if entry is None or entry.owner != host.fingerprint:
            return False  # none, or one made for a certificate the host no longer has
        cert = _cert_info(entry.payload)
        if cert is None or not hmac.compare_digest(cert.fingerprint, fingerprint):
            return False
        if not await self._renewed(host.name, host.fingerprint, cert):
            return False
        LOG.warning("host %s shows its renewed certificate: adopted", host.name)
        return True

    async def _renewed(self, host: str, old_fingerprint: str, cert: CertInfo) -> bool:
        """Make ``cert`` the host's certificate if it still has ``old_fingerprint``; audit it."""
        event = self._audit.draft(
            Kind.HOST_RENEWED, "hub", f"host:{host}", serial=cert.serial,
            fingerprint=cert.fingerprint, not_after=cert.not_after.isoformat(),
        )  # fmt: skip
        if not await self._hosts.renew(host, old_fingerprint, cert, event):  # one transaction
            return False
        self._audit.logged(event)
        # The pending note only served to adopt this certificate; it expires anyway if left.
        await self._pending.take(RENEWAL, host, old_fingerprint, self._clock.now())
        return True

    def renewal_due(self, host: HostRecord) -> bool:
        """Whether ``host``'s certificate is in the last third of a lifetime (renew it now)."""
        margin = timedelta(days=max(1, self.cert_days // 3))
        return self._clock.now() >= host.not_after - margin

    async def sign_renewal(
        self, host: str, csr: str, install: Install | None = None
    ) -> IssuedCertificate:
        """A fresh certificate for enrolled ``host`` on ``csr``'s key (which may be new).

        ``install`` (the agent's ``PUT /v1/certificate``) runs after signing and before the store
        trusts the new certificate: it still reaches the agent over the old one. The new
        certificate is noted as pending first, so that if the agent installs it but its answer
        is lost, the hub adopts it when the agent shows it (see :meth:`trusted`); a failed
        install leaves the old one in force. :class:`NotFound` if the host is not (or no longer)
        enrolled, including when it was removed while this ran.
        """
        record = await self._hosts.get(host)
        if record is None:
            raise NotFound(f"no enrolled host named {host}")
        now = self._clock.now()
        issued = self.ca.sign_agent(csr, host, now, self.cert_days)
        if install is not None:
            await self._pending.take(RENEWAL, host, record.fingerprint, now)  # an older attempt
            note = Pending(
                RENEWAL, host, record.fingerprint, _cert_text(issued.info), issued.info.not_after
            )
            await self._pending.create(note, now)
            await install(issued.pem)
        if not await self._renewed(host, record.fingerprint, issued.info):
            raise NotFound(f"host {host} was removed or re-enrolled meanwhile")
        return issued

    async def seen(self, name: str, at: datetime, agent_version: str | None = None) -> bool:
        """Record that enrolled host ``name`` answered at ``at`` (and its version, if known)."""
        return await self._hosts.seen(name, at, agent_version)

    async def remove(self, name: str, actor: str) -> bool:
        """Forget host ``name`` and its pending token; its certificate is refused from now on."""
        return await remove_host(self._hosts, self._audit, name, actor)

    async def hosts(self) -> list[HostRecord]:
        """Every enrolled host, by name."""
        return await self._hosts.list()

    async def pending(self) -> list[PendingEnrolment]:
        """Tokens issued and not yet used or expired."""
        return await self._enrolments.pending(self._clock.now())


def _cert_text(cert: CertInfo) -> str:
    return json.dumps(
        {"fingerprint": cert.fingerprint, "serial": cert.serial,
         "not_after": cert.not_after.isoformat()}
    )  # fmt: skip


def _cert_info(text: str) -> CertInfo | None:
    try:
        found = json.loads(text)
        return CertInfo(
            str(found["fingerprint"]), str(found["serial"]),
            datetime.fromisoformat(found["not_after"]),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return None
