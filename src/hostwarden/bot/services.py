"""What the bot's handlers use, built once at start and handed to them by the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from hostwarden.bot.claim import ClaimCode
from hostwarden.bot.confirmations import ConfirmationBook
from hostwarden.bot.deletions import DeferredDeletes
from hostwarden.bot.parking import ParkedUpdates
from hostwarden.bot.render import Renderer
from hostwarden.config import Settings, TelegramSettings
from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.registry import RegistryChecker
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import Clock
from hostwarden.core.secretbox import SecretBox
from hostwarden.core.service import AccessCore
from hostwarden.fleet.hub import local_fleet
from hostwarden.fleet.overview import FleetOverview
from hostwarden.fleet.target import Fleet
from hostwarden.host.metrics import HostReader
from hostwarden.updates import ReleaseChecker


@dataclass
class BotServices:
    """The core plus the host, container and update services the handlers call."""

    core: AccessCore
    telegram: TelegramSettings
    containers: ContainerSettings
    host: HostReader
    engine: ContainerEngine
    registry: RegistryChecker
    releases: ReleaseChecker
    renderer: Renderer
    confirmations: ConfirmationBook
    deletions: DeferredDeletes
    parking: ParkedUpdates  # updates waiting for a 2FA code, in the store
    claim: ClaimCode | None = None  # open while no admin exists (first run)
    fleet: Fleet | None = None  # the hosts acted on; None: this one alone (see hosts())
    overview: FleetOverview | None = None  # /hosts; built on first use

    @property
    def clock(self) -> Clock:
        return self.core.clock

    def hosts(self) -> Fleet:
        """The fleet; without one given, this host alone (``host``, ``engine``, ``registry``),
        named from ``monitor.host_label``, built on first use and kept."""
        if self.fleet is None:
            self.fleet = local_fleet(self.renderer.host, self.host, self.engine, self.registry)
        return self.fleet

    def host_overview(self) -> FleetOverview:
        """The ``/hosts`` reader, which also remembers when each host last answered."""
        if self.overview is None:
            self.overview = FleetOverview(self.clock)
        return self.overview

    @classmethod
    def build(
        cls, core: AccessCore, settings: Settings, host: HostReader | None = None
    ) -> BotServices:
        """Services from the settings; ``host`` may be replaced (tests, benchmarks)."""
        return cls(
            core=core,
            telegram=settings.telegram,
            containers=settings.containers,
            host=host or HostReader(),
            engine=ContainerEngine(settings.containers),
            registry=RegistryChecker(settings.containers),
            releases=ReleaseChecker(settings.updates),
            renderer=Renderer(),
            confirmations=ConfirmationBook(
                core.store.pending, core.clock, settings.telegram.challenge_seconds
            ),
            deletions=DeferredDeletes(core.clock),
            parking=ParkedUpdates(core.store.pending, core.clock, _box(settings)),
        )


def _box(settings: Settings) -> SecretBox:
    """The TOTP key's box: parked updates are encrypted under it, as TOTP secrets are."""
    key = settings.totp.encryption_key
    previous = [old.get_secret_value() for old in settings.totp.previous_keys]
    return SecretBox(key.get_secret_value() if key else None, previous)
