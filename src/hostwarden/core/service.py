"""All of the core, wired over one store: what a bot, a web app or a CLI builds once at start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hostwarden.core.accounts import Accounts
from hostwarden.core.alerts import AlertDispatcher, AlertOutbox, Notifier
from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import Clock, SystemClock
from hostwarden.core.directory import Directory
from hostwarden.core.guard import Guard
from hostwarden.core.lockout import Lockout
from hostwarden.core.passwords import PasswordHasher
from hostwarden.core.policy import Policy
from hostwarden.core.secretbox import SecretBox
from hostwarden.core.sessions import SessionManager
from hostwarden.core.settings import (
    AccessSettings,
    AlertSettings,
    LockoutSettings,
    PasswordSettings,
    SessionSettings,
    TotpSettings,
)
from hostwarden.core.totp import TotpService
from hostwarden.core.viewing import Viewing
from hostwarden.storage.base import Store

LOG = logging.getLogger("hostwarden.core")


@dataclass(frozen=True)
class CoreSettings:
    """Every section the core reads, with defaults."""

    access: AccessSettings = field(default_factory=AccessSettings)
    lockout: LockoutSettings = field(default_factory=LockoutSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    totp: TotpSettings = field(default_factory=TotpSettings)
    passwords: PasswordSettings = field(default_factory=PasswordSettings)


class AccessCore:
    """The guard and the services behind it, sharing one store, one clock and one audit trail."""

    def __init__(
        self,
        store: Store,
        settings: CoreSettings | None = None,
        clock: Clock | None = None,
        policy: Policy | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        # Lost and found again by the store; front ends subscribe (see core.health).
        self.health = store.health
        self.settings = settings = settings or CoreSettings()
        self.clock = clock = clock or SystemClock()
        self.audit = AuditTrail(store.audit, clock)
        self.alerts = AlertOutbox(store.outbox, self.audit, clock, settings.alerts)
        self.lockout = Lockout(
            store.counters, store.blocks, self.audit, clock, settings.lockout, settings.alerts
        )
        key = settings.totp.encryption_key
        self.totp = TotpService(
            store.totp,
            SecretBox(
                key.get_secret_value() if key else None,
                [old.get_secret_value() for old in settings.totp.previous_keys],
            ),
            self.lockout,
            self.alerts,
            self.audit,
            clock,
            settings.totp,
        )
        self.sessions = SessionManager(
            store.sessions, self.audit, self.alerts, clock, settings.sessions
        )
        self.accounts = Accounts(
            store.users,
            hasher or PasswordHasher(settings.passwords),
            self.lockout,
            self.sessions,
            self.totp,
            self.alerts,
            self.audit,
            clock,
        )
        self.policy = policy = policy or Policy()
        self.directory = Directory(store.users, settings.access)
        self.guard = Guard(
            self.directory,
            policy,
            self.lockout,
            self.totp,
            self.sessions,
            store.elevations,
            self.alerts,
            self.audit,
            clock,
            settings.access,
            store.decisions,
        )
        self.health.subscribe(self.guard.store_changed)
        # The console's per-request access work, one store step (core/viewing.py).
        self.viewing = Viewing(store.views, self.sessions, self.guard, self.directory, clock)

    def dispatcher(self, notifiers: list[Notifier]) -> AlertDispatcher:
        """A dispatcher that delivers this core's outbox through ``notifiers``."""
        return AlertDispatcher(
            self.store.outbox, notifiers, self.clock, self.settings.alerts, self.audit
        )

    async def start(self) -> None:
        """Open the store and clear what expired while nothing ran."""
        await self.store.start()
        await self.maintain()

    async def maintain(self) -> None:
        """Periodic housekeeping: expired sessions, stale counters, pending entries and
        conversations past their deadline."""
        await self.sessions.clear_expired_sessions()
        await self.lockout.prune()
        now = self.clock.now()
        await self.store.pending.purge(now)
        await self.store.conversations.purge(now)

    async def maintain_forever(
        self,
        stop: asyncio.Event,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> int:
        """Run :meth:`maintain` every ``sessions.cleanup_every_seconds`` until ``stop`` is set.

        Returns how many rounds ran. A failing round is logged and audited, never fatal.
        """
        rounds = 0
        while not stop.is_set():
            await sleep(self.settings.sessions.cleanup_every_seconds)
            if stop.is_set():
                break
            try:
                await self.maintain()
            except Exception as exc:  # housekeeping must outlive a passing database error
                LOG.warning("housekeeping failed: %s", type(exc).__name__)
                with contextlib.suppress(Exception):  # the store itself may be what failed
                    await self.audit.record(
                        Kind.ERROR, where="maintenance", error=type(exc).__name__
                    )
            rounds += 1
        return rounds

    async def close(self) -> None:
        """Close the store."""
        await self.store.close()
