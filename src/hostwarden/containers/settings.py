"""Where the container engine and the image registries are, and what may be shown."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_ENV_ALLOW = ("PATH", "TZ", "LANG", "LC_ALL", "HOME", "HOSTNAME", "TERM")


class ContainerSettings(BaseModel):
    """The ``containers`` section of the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    docker_url: str = Field(
        "unix:///var/run/docker.sock", description="engine API socket or URL (podman works too)"
    )
    timeout_seconds: float = Field(10, gt=0, le=300, description="limit for every engine call")
    page_size: int = Field(8, ge=1, le=50)
    log_lines: int = Field(40, ge=1, le=1000, description="/logs NAME without N shows this many")
    max_log_lines: int = Field(300, ge=1, le=5000)
    env_allow_list: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENV_ALLOW),
        description="environment variables whose values /container may show",
    )
    registries: dict[str, str] = Field(
        default_factory=lambda: {"docker.io": "https://registry-1.docker.io"},
        description="registry host -> base URL of its HTTP API v2",
    )
    registry_timeout_seconds: float = Field(10, gt=0, le=120)
