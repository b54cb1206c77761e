"""Alerts for the admin chat: worded, rate-limited, folded into digests, and kept until sent.

Raising an alert only writes to the durable outbox; :class:`AlertDispatcher` delivers the outbox
through :class:`Notifier` implementations the front ends provide (Telegram, Apprise, ...), one
per recipient. Each recipient gets each message at most once on success; a recipient that fails
is retried alone, with back-off, until ``give_up_seconds`` after the alert.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections import Counter as Tally
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import Clock
from hostwarden.core.decision import OutboxEntry
from hostwarden.core.masking import mask_user_id, mask_username
from hostwarden.core.settings import AlertSettings
from hostwarden.storage.base import OutboxMessage, OutboxStore, Outcome

LOG = logging.getLogger("hostwarden.alerts")

TOKEN_HINT = "Verify the bot token if unexpected; regenerate it if it may have leaked."
HOST_PREFIX = "Host: "


@dataclass(frozen=True, slots=True)
class Alert:
    """One security alert. ``kind`` is a short tag such as ``unauthorized`` or ``blocked``."""

    kind: str
    title: str
    at: datetime
    username: str | None = None
    user_id: int | str | None = None
    attempt: int | None = None
    attempts_left: int | None = None
    detail: str = ""
    token_hint: bool = False
    #: The host it happened on, when not the hub's own (an agent's alerts): named in the text.
    host: str = ""

    def render(self) -> str:
        """Telegram-HTML text; every attacker-chosen value is masked and escaped."""
        lines = [f"<b>{html.escape(self.title)}</b>"]
        if self.host:
            lines.append(f"{HOST_PREFIX}{html.escape(self.host)}")
        if self.username is not None or self.user_id is not None:
            who = f"User: {mask_username(self.username)}"
            if self.user_id is not None:
                who += f" (ID {mask_user_id(self.user_id)})"
            lines.append(who)
        lines.append(f"Time: {self.at.strftime('%Y-%m-%d %H:%M:%S')} UTC")
        if self.attempt is not None:
            left = "" if self.attempts_left is None else f", {self.attempts_left} left"
            lines.append(f"Attempt: {self.attempt}{left}")
        if self.detail:
            lines.append(html.escape(self.detail))
        if self.token_hint:
            lines.append(html.escape(TOKEN_HINT))
        return "\n".join(lines)


class Notifier(Protocol):
    """One recipient of alerts. ``send`` raises on failure; the message is kept and retried.

    ``name`` identifies the recipient in the outbox (``telegram:<chat id>``, ``apprise:<n>``):
    stable across restarts, at most 100 characters, and never a secret such as a URL. Logs show
    it masked (:func:`mask_recipient`).
    """

    @property
    def name(self) -> str: ...

    async def send(self, text: str) -> None: ...


def with_host(text: str, host: str) -> str:
    """``text`` with a ``Host: <host>`` line after its first (title) line; unchanged if no host.

    Every message to a recipient goes through this (:class:`HostNamed`), so several hosts'
    alerts in one admin chat can be told apart.
    """
    if not host:
        return text
    title, newline, rest = text.partition("\n")
    if rest.startswith(HOST_PREFIX):  # an agent's alert already names its host
        return text
    return f"{title}\n{HOST_PREFIX}{html.escape(host)}" + (newline + rest if newline else "")


class HostNamed:
    """A :class:`Notifier` that names the host in every text before handing it on."""

    def __init__(self, notifier: Notifier, host: str) -> None:
        self._notifier = notifier
        self.host = host

    @property
    def name(self) -> str:
        return self._notifier.name

    async def send(self, text: str) -> None:
        await self._notifier.send(with_host(text, self.host))


class AlertOutbox:
    """Queues alerts durably, folding them into per-minute digests above the configured rate.

    The rate is counted per source: the hub's own alerts (``Alert.host`` empty) and each
    agent's (its host) have a budget each, so one agent raising a flood folds only its own
    alerts, never the hub's security alerts nor another host's. It is counted per process, in
    memory: it only decides how alerts are worded, not whether anyone gets in, so it need not
    cost a database write per alert.
    """

    def __init__(
        self,
        outbox: OutboxStore,
        audit: AuditTrail,
        clock: Clock,
        settings: AlertSettings,
    ) -> None:
        self._outbox = outbox
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._minute: datetime | None = None
        #: This minute's alerts per source: ``""`` the hub's own, else an agent's host.
        self._in_minute: dict[str, int] = {}

    def _count(self, minute: datetime, source: str) -> int:
        if minute != self._minute:
            self._minute, self._in_minute = minute, {}
        count = self._in_minute.get(source, 0) + 1
        self._in_minute[source] = count
        return count

    def plan(self, alert: Alert) -> OutboxEntry:
        """How ``alert`` enters the outbox: as itself while its source is under the rate, else
        in a digest (an agent's folded alerts in buckets of their own, its host named)."""
        minute = alert.at.replace(second=0, microsecond=0)
        if self._count(minute, alert.host) > self._settings.digest_above_per_minute:
            bucket = f"{minute.isoformat()}|{alert.kind}"
            text = alert.kind
            if alert.host:
                bucket, text = f"{bucket}|{alert.host}", f"{alert.kind} on {alert.host}"
            return OutboxEntry(text, bucket, minute + timedelta(minutes=1))
        return OutboxEntry(alert.render())

    async def raise_alert(self, alert: Alert) -> None:
        """Queue ``alert``: as itself while under the rate, else counted in this minute's digest."""
        now = self._clock.now()
        entry = self.plan(replace(alert, at=now) if alert.at != now else alert)
        if entry.bucket is not None and entry.deliver_at is not None:
            await self._outbox.fold(entry.bucket, entry.text, now, entry.deliver_at)
        else:
            await self._outbox.put(entry.text, now)
        folded = entry.bucket is not None
        await self._audit.record(
            Kind.ALERT_RAISED, subject=_subject(alert), alert=alert.kind, folded=folded
        )


def _subject(alert: Alert) -> str:
    if alert.user_id is not None:
        return f"tg:{alert.user_id}"
    if alert.username:
        return f"user:{alert.username}"
    return ""


def render_digest(rows: list[OutboxMessage]) -> str:
    """One message for the digest rows of one minute: counts per kind."""
    tally: Tally[str] = Tally()
    for row in rows:
        tally[row.text] += row.count
    minute = (rows[0].bucket or "").split("|", 1)[0][:16].replace("T", " ")
    parts = [f"{html.escape(kind)}: {count}" for kind, count in sorted(tally.items())]
    total = sum(tally.values())
    return (
        f"<b>Alert digest</b>\n{total} more alerts in the minute from {html.escape(minute)} UTC "
        f"were folded to keep this chat readable.\n" + "\n".join(parts)
    )


def mask_recipient(name: str) -> str:
    """A recipient's name for logs: ``telegram:123456789`` becomes ``telegram:12*****89``.

    Apprise targets keep their number (``apprise:2``); any other value is masked as a name.
    """
    kind, sep, value = name.partition(":")
    if not sep:
        return mask_username(name)
    kind = html.escape(kind[:20])
    if kind == "telegram":
        return f"{kind}:{mask_user_id(value)}"
    if kind == "apprise" and value.isdigit() and len(value) <= 4:
        return f"{kind}:{value}"
    return f"{kind}:{mask_username(value)}"


def _groups(due: list[OutboxMessage]) -> list[list[OutboxMessage]]:
    """Messages sent as one text: each single alone, each minute's digest rows together."""
    singles = [[m] for m in due if m.bucket is None]
    digests: dict[str, list[OutboxMessage]] = {}
    for message in due:
        if message.bucket is not None:
            digests.setdefault(message.bucket.split("|", 1)[0], []).append(message)
    return singles + list(digests.values())


class ClaimExpiredError(Exception):
    """A delivery's claim ran out (or nearly) before its send began: it is not sent on it."""


class AlertDispatcher:
    """Delivers due outbox messages to each notifier separately.

    Before a send, the recipient's delivery is claimed in the store (so a second dispatcher
    does not send it too, and a crash mid-send means a retry, not a loss); after it, the
    outcome is settled. A failing recipient is retried with back-off and, from
    ``give_up_seconds`` after the alert, given up with one ``alert.undeliverable`` event.
    A send is cut off (as failed) inside its claim, so no other dispatcher sends it meanwhile.
    """

    def __init__(
        self,
        outbox: OutboxStore,
        notifiers: list[Notifier],
        clock: Clock,
        settings: AlertSettings,
        audit: AuditTrail | None = None,
    ) -> None:
        for notifier in notifiers:
            if not 0 < len(notifier.name) <= 100:
                raise ValueError("a notifier's name must have 1 to 100 characters")
        self._audit = audit
        self._outbox = outbox
        self._notifiers = notifiers
        self._names = list(dict.fromkeys(n.name for n in notifiers))
        self._clock = clock
        self._settings = settings

    @property
    def has_recipients(self) -> bool:
        """Whether alerts can go anywhere at all."""
        return bool(self._notifiers)

    async def deliver_due(self, limit: int = 50) -> int:
        """Send what is due now; return how many sends (message to one recipient) succeeded.

        Each claim is made with the clock read just before it, so it holds for its whole
        back-off however long the batch's earlier sends took. A batch starts no send once the
        send limit (four fifths of the shortest claim) has passed since it read the outbox: what
        it read is left to the next round, read afresh.
        """
        if not self._notifiers:
            return 0
        started = self._clock.now()
        stop = started + timedelta(seconds=self._send_limit())
        sent = 0
        for rows in _groups(await self._outbox.due(started, limit)):
            for notifier in self._notifiers:
                if self._clock.now() >= stop:
                    return sent
                sent += await self._deliver(rows, notifier)
        return sent

    async def _deliver(self, rows: list[OutboxMessage], notifier: Notifier) -> int:
        name = notifier.name
        claimed: list[OutboxMessage] = []
        attempts = 0
        expires: datetime | None = None
        for row in rows:
            now = self._clock.now()
            state = row.delivery(name)
            if state is not None and not state.ready(now):
                continue
            tried = state.attempts if state is not None else 0
            retry_at = now + self._backoff(tried)
            if await self._outbox.claim(row.id, name, now, retry_at):
                claimed.append(row)
                attempts = max(attempts, tried + 1)
                expires = retry_at if expires is None else min(expires, retry_at)
        if not claimed or expires is None:
            return 0
        now = self._clock.now()
        # The send must end while every claim holds, with the clocks' allowance to spare; a
        # claim that ran out meanwhile (a slow store) is not sent on: it counts as failed.
        limit = min(self._send_limit(), (expires - now).total_seconds() - self._claim_margin())
        text = claimed[0].text if claimed[0].bucket is None else render_digest(claimed)
        try:
            if limit <= 0:
                raise ClaimExpiredError
            await asyncio.wait_for(notifier.send(text), limit)
        except Exception as exc:  # any sender failure keeps the message for later
            await self._failed(claimed, name, self._clock.now(), attempts, type(exc).__name__)
            return 0
        await self._settle(claimed, name, Outcome.DELIVERED, self._clock.now())
        return 1

    async def _settle(
        self, rows: list[OutboxMessage], name: str, outcome: Outcome, now: datetime
    ) -> bool:
        """Record ``outcome`` for each row; a digest row folded into since it was read keeps
        the alerts this send did not count (``seen``)."""
        changed = False
        for row in rows:
            changed |= await self._outbox.settle(
                row.id, name, outcome, now, self._names, seen=row.count
            )
        return changed

    async def _failed(
        self, rows: list[OutboxMessage], name: str, now: datetime, attempts: int, error: str
    ) -> None:
        oldest = min(row.created_at for row in rows)
        if now < oldest + timedelta(seconds=self._settings.give_up_seconds):
            await self._settle(rows, name, Outcome.FAILED, now)
            LOG.warning("alert delivery to %s failed, will retry: %s", mask_recipient(name), error)
            await self._record(Kind.ERROR, where="alert delivery", recipient=name, error=error)
        elif await self._settle(rows, name, Outcome.GAVE_UP, now):
            LOG.warning(
                "alert delivery to %s gave up after %d attempts: %s",
                mask_recipient(name),
                attempts,
                error,
            )
            await self._record(
                Kind.ALERT_UNDELIVERABLE, recipient=name, attempts=attempts, error=error
            )

    async def _record(self, kind: str, recipient: str, **detail: Any) -> None:
        if self._audit is not None:
            await self._audit.record(kind, recipient=mask_recipient(recipient), **detail)

    def _send_limit(self) -> float:
        """Seconds a send may take: four fifths of the shortest claim (the first back-off)."""
        return 0.8 * min(self._settings.retry_seconds, self._settings.max_retry_seconds)

    def _claim_margin(self) -> float:
        """Seconds a send ends before its claim runs out at the latest: the fifth of the
        shortest claim left for replicas' clocks to disagree."""
        return 0.2 * min(self._settings.retry_seconds, self._settings.max_retry_seconds)

    def _backoff(self, attempts: int) -> timedelta:
        seconds = self._settings.retry_seconds * 2 ** min(attempts, 20)
        return timedelta(seconds=min(seconds, self._settings.max_retry_seconds))
