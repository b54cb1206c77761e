"""Containers, images, logs, image updates and the agent's version on the wire (see ``wire``)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

from pydantic import BeforeValidator, Field

from hostwarden.containers.engine import ContainerDetails, ContainerSummary, ImageSummary
from hostwarden.containers.registry import ImageUpdate, UpdateState
from hostwarden.fleet.wire import Count, Label, LongLine, Name, Wire, clean_text

#: The most containers or images an agent may list (far more than a host runs).
MAX_ITEMS = 5000
#: The longest log text the hub takes (it is capped by the body size too).
MAX_LOG = 512 * 1024

Text = Annotated[str, BeforeValidator(partial(clean_text, limit=MAX_LOG))]
Pairs = tuple[tuple[Label, LongLine], ...]


class Container(Wire):
    name: Name
    short_id: Label
    image: LongLine
    state: Label
    started_at: datetime | None
    health: Label | None = None  # absent from an older agent: unknown, so not unhealthy

    @classmethod
    def of(cls, summary: ContainerSummary) -> Container:
        return cls.model_validate(
            {f: getattr(summary, f) for f in ContainerSummary.__dataclass_fields__}, strict=False
        )

    def to_summary(self) -> ContainerSummary:
        return ContainerSummary(
            self.name, self.short_id, self.image, self.state, self.started_at, self.health
        )


class Containers(Wire):
    containers: tuple[Container, ...] = Field(max_length=MAX_ITEMS)


class Details(Wire):
    summary: Container
    created_at: datetime | None
    restart_count: Count
    exit_code: Annotated[int, Field(ge=-(2**31), le=2**31)] | None
    health: Label | None
    command: LongLine
    ports: tuple[LongLine, ...] = Field(max_length=500)
    mounts: tuple[LongLine, ...] = Field(max_length=500)
    networks: tuple[Label, ...] = Field(max_length=500)
    environment: Pairs = Field(max_length=1000)

    @classmethod
    def of(cls, details: ContainerDetails) -> Details:
        fields = {f: getattr(details, f) for f in ContainerDetails.__dataclass_fields__}
        fields["summary"] = Container.of(details.summary)
        return cls.model_validate(fields, strict=False)

    def to_details(self) -> ContainerDetails:
        return ContainerDetails(
            self.summary.to_summary(),
            self.created_at,
            self.restart_count,
            self.exit_code,
            self.health,
            self.command,
            self.ports,
            self.mounts,
            self.networks,
            self.environment,
        )


class Logs(Wire):
    text: Text


class Image(Wire):
    short_id: Label
    tags: tuple[LongLine, ...] = Field(max_length=500)
    repo_digests: tuple[LongLine, ...] = Field(max_length=500)
    size: Count
    created_at: datetime | None

    @classmethod
    def of(cls, image: ImageSummary) -> Image:
        return cls.model_validate(
            {f: getattr(image, f) for f in ImageSummary.__dataclass_fields__}, strict=False
        )

    def to_summary(self) -> ImageSummary:
        return ImageSummary(self.short_id, self.tags, self.repo_digests, self.size, self.created_at)


class Images(Wire):
    images: tuple[Image, ...] = Field(max_length=MAX_ITEMS)


class UpdateQuery(Wire):
    """The hub's question: which of these references have a newer image in their registry?"""

    references: tuple[LongLine, ...] = Field(max_length=MAX_ITEMS)


class Update(Wire):
    reference: LongLine
    state: UpdateState
    detail: LongLine = ""

    def to_update(self) -> ImageUpdate:
        return ImageUpdate(self.reference, self.state, self.detail)


class Updates(Wire):
    updates: tuple[Update, ...] = Field(max_length=MAX_ITEMS)


class Version(Wire):
    """What ``GET /v1/version`` says: the package version, and whether actions are refused."""

    version: Label
    read_only: bool
