"""What the bot's handlers use, built once at start and handed to them by the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from hostwarden.bot.claim import ClaimCode
from hostwarden.bot.confirmations import ConfirmationBook
from hostwarden.bot.deletions import DeferredDeletes
from hostwarden.bot.render import Renderer
from hostwarden.config import Settings, TelegramSettings
from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.registry import RegistryChecker
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import Clock
from hostwarden.core.service import AccessCore
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
    claim: ClaimCode | None = None  # open while no admin exists (first run)

    @property
    def clock(self) -> Clock:
        return self.core.clock

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
            confirmations=ConfirmationBook(core.clock, settings.telegram.challenge_seconds),
            deletions=DeferredDeletes(core.clock),
        )
