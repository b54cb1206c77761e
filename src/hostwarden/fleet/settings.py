"""The ``fleet`` section of the configuration: how the hub talks to its agents."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hostwarden.fleet.pki import CERT_DAYS, MAX_CERT_DAYS, MIN_CERT_DAYS


class FleetSettings(BaseModel):
    """The hub's agents (see docs/fleet.md); without enrolled hosts nothing here runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_seconds: int = Field(
        15, ge=5, le=3600,
        description="how often the bot reads every agent's alerts and notes who answers",
    )  # fmt: skip
    request_timeout_seconds: int = Field(
        10, ge=1, le=120, description="how long the hub waits for an agent's answer"
    )
    cert_days: int = Field(
        CERT_DAYS, ge=MIN_CERT_DAYS, le=MAX_CERT_DAYS,
        description="lifetime of the certificates the hub signs for agents; renewed in the"
        " last third",
    )  # fmt: skip
