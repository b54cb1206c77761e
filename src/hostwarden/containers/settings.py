"""Where the container engine and the image registries are, and what may be shown."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hostwarden.core.settings import MAX_NAME_LENGTH, MAX_URL_LENGTH

DEFAULT_ENV_ALLOW = ("PATH", "TZ", "LANG", "LC_ALL", "HOME", "HOSTNAME", "TERM")

EnvName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
RegistryHost = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]


class ContainerSettings(BaseModel):
    """The ``containers`` section of the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    docker_url: str = Field(
        "unix:///var/run/docker.sock",
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="engine API socket or URL (podman works too)",
    )
    timeout_seconds: float = Field(
        10, gt=0, le=300, description="limit for every engine call (at most 300 s)"
    )
    page_size: int = Field(8, ge=1, le=50)
    log_lines: int = Field(40, ge=1, le=1000, description="/logs NAME without N shows this many")
    max_log_lines: int = Field(300, ge=1, le=5000)
    env_allow_list: list[EnvName] = Field(
        default_factory=lambda: list(DEFAULT_ENV_ALLOW),
        max_length=1000,
        description="environment variables whose values /container may show (at most 1000)",
    )
    registries: dict[RegistryHost, Url] = Field(
        default_factory=lambda: {"docker.io": "https://registry-1.docker.io"},
        max_length=100,
        description="registry host -> base URL of its HTTP API v2 (at most 100)",
    )
    registry_timeout_seconds: float = Field(10, gt=0, le=120, description="at most 120 s")
