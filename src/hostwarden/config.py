"""Configuration: one YAML file (``hostwarden.yaml``) plus ``HOSTWARDEN_*`` environment overrides.

The file holds secrets, so it must be readable by its owner only; loading refuses anything wider
unless explicitly told otherwise. Errors come back as one line per problem, never a traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from hostwarden.bot.webhook_guard import TELEGRAM_NETWORKS
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.service import CoreSettings
from hostwarden.core.settings import (
    AccessSettings,
    AlertSettings,
    LockoutSettings,
    PasswordSettings,
    SessionSettings,
    TotpSettings,
)
from hostwarden.errors import ConfigError
from hostwarden.host.thresholds import MonitorSettings
from hostwarden.updates import UpdateSettings
from hostwarden.web.settings import WebSettings

DEFAULT_CONFIG = "hostwarden.yaml"


class WebhookSettings(BaseModel):
    """Webhook mode: Telegram calls ``url`` + ``/webhook/<path_secret>`` with ``secret_token``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(None, description="public HTTPS base URL Telegram can reach")
    path_secret: SecretStr | None = Field(None, description="random path part, kept secret")
    secret_token: SecretStr | None = Field(
        None, description="sent by Telegram in X-Telegram-Bot-Api-Secret-Token"
    )
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8443, ge=1, le=65535)
    allowed_networks: list[str] = Field(
        default_factory=lambda: list(TELEGRAM_NETWORKS),
        description="who may post updates (Telegram's ranges; [] allows any, e.g. behind a proxy)",
    )


class TelegramSettings(BaseModel):
    """The bot's credentials, where alerts go, and how updates arrive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = None
    admin_chat_ids: list[int] = Field(default_factory=list)
    group_chat_ids: list[int] = Field(
        default_factory=list,
        description="groups where users may see host and container views (secrets never)",
    )
    api_base: str | None = Field(None, description="a self-hosted Bot API server's base URL")
    mode: Literal["polling", "webhook"] = "polling"
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    apprise_urls: list[SecretStr] = Field(
        default_factory=list, description="Apprise targets that receive the same alerts"
    )
    alert_every_seconds: float = Field(5, gt=0, le=3600, description="outbox delivery interval")
    challenge_seconds: int = Field(120, ge=15, le=900, description="how long a 2FA prompt waits")
    qr_delete_seconds: int = Field(60, ge=5, le=3600)

    @model_validator(mode="after")
    def _webhook_complete(self) -> TelegramSettings:
        hook = self.webhook
        if self.mode == "webhook" and not (hook.url and hook.path_secret and hook.secret_token):
            raise ValueError(
                "webhook mode needs webhook.url, webhook.path_secret and webhook.secret_token"
            )
        return self


class StorageSettings(BaseModel):
    """Where state lives: an SQLite file under ``data_dir`` unless ``url`` says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("data")
    url: SecretStr | None = Field(None, description="SQLAlchemy URL; may hold a password")

    def database_url(self) -> str:
        if self.url is not None:
            return self.url.get_secret_value()
        return str(self.data_dir / "hostwarden.db")


class Settings(BaseSettings):
    """Everything hostwarden reads; environment variables override the file."""

    model_config = SettingsConfigDict(
        env_prefix="HOSTWARDEN_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    lockout: LockoutSettings = Field(default_factory=LockoutSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    totp: TotpSettings = Field(default_factory=TotpSettings)
    passwords: PasswordSettings = Field(default_factory=PasswordSettings)
    containers: ContainerSettings = Field(default_factory=ContainerSettings)
    updates: UpdateSettings = Field(default_factory=UpdateSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment wins over them.
        return env_settings, init_settings

    def core(self) -> CoreSettings:
        """The sections the core needs."""
        return CoreSettings(
            self.access, self.lockout, self.alerts, self.sessions, self.totp, self.passwords
        )


def check_permissions(path: Path) -> None:
    """Refuse a config file that group or others can read or write."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):03o}) and holds secrets; "
            f"fix with: chmod 600 {path}   (or pass --allow-insecure-config)"
        )


def _env_name(location: tuple[str | int, ...]) -> str | None:
    """The environment variable that set ``location``, if one did."""
    environ = {name.upper() for name in os.environ}
    for depth in range(len(location), 0, -1):
        name = "HOSTWARDEN_" + "__".join(str(part).upper() for part in location[:depth])
        if name in environ:
            return name
    return None


def _problems(path: Path | None, error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        env = _env_name(tuple(item["loc"]))
        where = f"environment {env}: " if env else (f"{path}: " if path else "")
        lines.append(f"{where}{location}: {item['msg']}")
    return lines


def load_settings(path: Path | None = None, allow_insecure: bool = False) -> Settings:
    """Read ``path`` (if given) and the environment into validated settings."""
    data: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} not found (create one with `hostwarden init`)")
        if not allow_insecure:
            check_permissions(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}: not valid YAML{where}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data = loaded
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = _problems(path, exc)
        raise ConfigError("; ".join(problems), problems) from None
    except SettingsError as exc:  # an environment value that is not even parseable
        raise ConfigError(f"environment: {exc} (lists and mappings are given as JSON)") from None


def default_config_path() -> Path | None:
    """``$HOSTWARDEN_CONFIG``, else ``./hostwarden.yaml`` if it exists, else nothing."""
    env = os.environ.get("HOSTWARDEN_CONFIG")
    if env:
        return Path(env)
    local = Path(DEFAULT_CONFIG)
    return local if local.is_file() else None
