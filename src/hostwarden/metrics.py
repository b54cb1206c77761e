"""Health and Prometheus metrics: counters the front ends feed, gauges read at scrape time.

One :class:`Metrics` per front end, each with its own ``CollectorRegistry`` (never the global
one), so two apps in one process and the tests do not clash. What it counts:

- guard decisions by verdict (``hostwarden_updates_total`` for the bot,
  ``hostwarden_web_decisions_total`` for the console) and the guard's latency per front end;
- every audit event by kind (blocks, alerts, logins by outcome, container actions, ...), through
  the audit trail's observer hook, and raised alerts by whether they were folded into a digest;
- alert sends that succeeded (the bot's delivery loop);
- at scrape time: the outbox messages due now (capped), the stored sessions, the store's state.

Labels carry verdicts, kinds and front-end names only: never a user, an ID or a session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hostwarden.core.audit import ALL_KINDS, Kind
from hostwarden.core.service import AccessCore
from hostwarden.metrics_tally import DecisionTally
from hostwarden.storage.base import AuditEvent

LOG = logging.getLogger("hostwarden.metrics")

OUTBOX_CAP: Final = 1000
"""The outbox gauge reads at most this many due messages per scrape."""

LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

Alive = Callable[[], bool]
"""Whether the front end's serving task (polling, webhook) is running."""


class Metrics:
    """The counters and gauges of one front end, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # Decisions by verdict and the guard's latency (hostwarden_updates_total,
        # hostwarden_web_decisions_total, hostwarden_guard_seconds): tallied, not locked.
        self.decisions = DecisionTally(LATENCY_BUCKETS)
        r.register(self.decisions)
        self.audit_events = Counter(
            "hostwarden_audit_events", "Audit events recorded, by kind.", ["kind"], registry=r
        )
        self.alerts_raised = Counter(
            "hostwarden_alerts_raised",
            "Alerts queued, by whether they were folded into a digest.",
            ["folded"],
            registry=r,
        )
        self.alerts_delivered = Counter(
            "hostwarden_alerts_delivered",
            "Alert messages sent to one recipient successfully.",
            registry=r,
        )
        self.outbox_due = Gauge(
            "hostwarden_outbox_due",
            f"Outbox messages due for delivery now (at most {OUTBOX_CAP} counted).",
            registry=r,
        )
        self.sessions = Gauge("hostwarden_sessions", "Stored console sessions.", registry=r)
        self.store_up = Gauge(
            "hostwarden_store_up", "1 if the store answered at the last scrape.", registry=r
        )

    def watch(self, core: AccessCore) -> None:
        """Count ``core``'s audit events from now on."""
        core.audit.observers.append(self.on_audit)

    def decided(self, front: str, verdict: str, seconds: float) -> None:
        """One guard decision: ``front`` is ``bot`` or ``web``; ``verdict`` a Verdict (or its
        value: a Verdict is the string it stands for, and is kept as that plain string)."""
        self.decisions.add(front, verdict, seconds)

    def on_audit(self, event: AuditEvent) -> None:
        """The audit trail's observer: count the event by kind (unknown kinds as ``other``)."""
        kind = event.kind if event.kind in ALL_KINDS else "other"
        self.audit_events.labels(kind=kind).inc()
        if kind == Kind.ALERT_RAISED:
            folded = "true" if event.detail.get("folded") else "false"
            self.alerts_raised.labels(folded=folded).inc()

    async def refresh(self, core: AccessCore) -> None:
        """Read the gauges from the store; a failing store sets ``hostwarden_store_up`` to 0."""
        try:
            due = await core.store.outbox.due(core.clock.now(), OUTBOX_CAP)
            sessions = await core.store.sessions.list()
        except Exception as exc:  # a scrape must answer even when the store does not
            LOG.warning("metrics: store read failed: %s", type(exc).__name__)
            self.store_up.set(0)
            return
        self.outbox_due.set(len(due))
        self.sessions.set(len(sessions))
        self.store_up.set(1)

    async def exposition(self, core: AccessCore) -> bytes:
        """The Prometheus text, gauges refreshed first."""
        await self.refresh(core)
        return generate_latest(self.registry)


async def health(core: AccessCore, alive: Alive | None = None) -> tuple[bool, str]:
    """``(True, "ok")``, or ``(False, reason)`` with a one-word reason (``store``, ``bot``)."""
    if alive is not None and not alive():
        return False, "bot"
    if not core.store.health.available:
        return False, "store"
    try:
        await core.store.blocks.list(core.clock.now())  # a cheap read: blocks are few
    except Exception:
        return False, "store"
    return True, "ok"


def listener_app(metrics: Metrics, core: AccessCore, alive: Alive | None = None) -> web.Application:
    """The aiohttp app of the standalone listener: ``/healthz`` and ``/metrics``."""

    async def healthz(_: web.Request) -> web.Response:
        ok, reason = await health(core, alive)
        return web.Response(text=reason, status=200 if ok else 503)

    async def scrape(_: web.Request) -> web.Response:
        body = await metrics.exposition(core)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", scrape)
    return app


async def serve(
    metrics: Metrics,
    core: AccessCore,
    host: str,
    port: int,
    stop: asyncio.Event,
    alive: Alive | None = None,
) -> None:
    """Serve :func:`listener_app` on ``host``:``port`` until ``stop`` is set."""
    runner = web.AppRunner(listener_app(metrics, core, alive), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        LOG.info("health and metrics listening on %s:%d", host, port)
        await stop.wait()
    finally:
        await runner.cleanup()


def timer() -> float:
    """A monotonic reading in seconds, for the guard's latency."""
    return time.perf_counter()
