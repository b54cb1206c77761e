"""Alerts for the admin chat: worded, rate-limited, folded into digests, and kept until sent.

Raising an alert only writes to the durable outbox; :class:`AlertDispatcher` delivers the outbox
through :class:`Notifier` implementations the front ends provide (Telegram, Apprise, ...).
"""

from __future__ import annotations

import html
import logging
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import Clock
from hostwarden.core.masking import mask_user_id, mask_username
from hostwarden.core.settings import AlertSettings
from hostwarden.storage.base import OutboxMessage, OutboxStore

LOG = logging.getLogger("hostwarden.alerts")

TOKEN_HINT = "Verify the bot token if unexpected; regenerate it if it may have leaked."


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

    def render(self) -> str:
        """Telegram-HTML text; every attacker-chosen value is masked and escaped."""
        lines = [f"<b>{html.escape(self.title)}</b>"]
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
    """Somewhere alerts can be sent. ``send`` raises on failure; the message is kept and retried."""

    async def send(self, text: str) -> None: ...


class AlertOutbox:
    """Queues alerts durably, folding them into per-minute digests above the configured rate.

    The rate is counted per process, in memory: it only decides how alerts are worded, not
    whether anyone gets in, so it need not cost a database write per alert.
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
        self._in_minute = 0

    def _count(self, minute: datetime) -> int:
        if minute != self._minute:
            self._minute, self._in_minute = minute, 0
        self._in_minute += 1
        return self._in_minute

    async def raise_alert(self, alert: Alert) -> None:
        """Queue ``alert``: as itself while under the rate, else counted in this minute's digest."""
        now = self._clock.now()
        minute = now.replace(second=0, microsecond=0)
        folded = self._count(minute) > self._settings.digest_above_per_minute
        if folded:
            bucket = f"{minute.isoformat()}|{alert.kind}"
            await self._outbox.fold(bucket, alert.kind, now, minute + timedelta(minutes=1))
        else:
            await self._outbox.put(alert.render(), now)
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


class AlertDispatcher:
    """Delivers due outbox messages to every notifier; failures are retried with back-off."""

    def __init__(
        self,
        outbox: OutboxStore,
        notifiers: list[Notifier],
        clock: Clock,
        settings: AlertSettings,
        audit: AuditTrail | None = None,
    ) -> None:
        self._audit = audit
        self._outbox = outbox
        self._notifiers = notifiers
        self._clock = clock
        self._settings = settings

    async def deliver_due(self, limit: int = 50) -> int:
        """Send what is due now; return how many messages were delivered."""
        now = self._clock.now()
        due = await self._outbox.due(now, limit)
        digests: dict[str, list[OutboxMessage]] = {}
        singles: list[OutboxMessage] = []
        for message in due:
            if message.bucket is None:
                singles.append(message)
            else:
                digests.setdefault(message.bucket.split("|", 1)[0], []).append(message)
        groups = [([m], m.text) for m in singles]
        groups += [(rows, render_digest(rows)) for rows in digests.values()]
        delivered = 0
        for rows, text in groups:
            if await self._send(text):
                for row in rows:
                    await self._outbox.ack(row.id)
                delivered += 1
            else:
                for row in rows:
                    await self._outbox.retry(row.id, now + self._backoff(row.attempts))
        return delivered

    async def _send(self, text: str) -> bool:
        try:
            for notifier in self._notifiers:
                await notifier.send(text)
        except Exception as exc:  # any sender failure keeps the message for later
            LOG.warning("alert delivery failed, will retry: %s", type(exc).__name__)
            if self._audit is not None:
                await self._audit.record(
                    Kind.ERROR, where="alert delivery", error=type(exc).__name__
                )
            return False
        return bool(self._notifiers)

    def _backoff(self, attempts: int) -> timedelta:
        seconds = self._settings.retry_seconds * 2 ** min(attempts, 20)
        return timedelta(seconds=min(seconds, self._settings.max_retry_seconds))
