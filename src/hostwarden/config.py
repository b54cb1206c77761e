"""Configuration: one YAML file (``hostwarden.yaml``) plus ``HOSTWARDEN_*`` environment overrides.

The file holds secrets, so it must be readable by its owner only; loading refuses anything wider
unless explicitly told otherwise. Errors come back as one line per problem, never a traceback.

Bad input is refused before it can cost much: the file may hold at most :data:`MAX_CONFIG_BYTES`
(checked with ``stat`` and a bounded read, before parsing), at most :data:`MAX_DEPTH` levels of
nesting and :data:`MAX_VALUES` values once YAML aliases are expanded (checked on the parser's
events, before anything is built), and every setting has bounds (see
:mod:`hostwarden.core.settings`); a value out of bounds is one line naming the setting and its
allowed range.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

import annotated_types
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
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
    DAY_SECONDS,
    HOUR_SECONDS,
    MAX_NAME_LENGTH,
    MAX_SECRET_LENGTH,
    MAX_URL_LENGTH,
    MINUTE_SECONDS,
    AccessSettings,
    AlertSettings,
    LockoutSettings,
    PasswordSettings,
    SessionSettings,
    TelegramChatId,
    TotpSettings,
)
from hostwarden.errors import ConfigError
from hostwarden.fleet.settings import FleetSettings
from hostwarden.host.thresholds import MonitorSettings
from hostwarden.updates import UpdateSettings
from hostwarden.web.settings import WebSettings

DEFAULT_CONFIG = "hostwarden.yaml"
#: The largest config file read at all (1 MiB); a real one is a few kilobytes.
MAX_CONFIG_BYTES = 1024 * 1024
#: The deepest nesting of mappings and lists accepted in the file.
MAX_DEPTH = 32
#: The most values (scalars, lists, mappings) accepted, counting what YAML aliases repeat.
MAX_VALUES = 100_000
#: At most this many problems are reported; the rest are counted in one more line.
MAX_PROBLEMS = 20
#: The longest path accepted for ``storage.data_dir`` (Linux's PATH_MAX).
MAX_PATH_LENGTH = 4096


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("must be an IP network such as 149.154.160.0/20") from None
    return value


def _short_path(value: Path) -> Path:
    if len(str(value)) > MAX_PATH_LENGTH:
        raise ValueError(f"must be at most {MAX_PATH_LENGTH} characters long")
    return value


HttpUrl = Annotated[
    str | None, Field(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(_http_url)
]
"""An optional http(s) URL with a host, at most 2048 characters."""
Network = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_network)]
"""An IP network (``10.0.0.0/8``, ``2001:db8::/32``, or one address), at most 64 characters."""
SecretUrl = Annotated[SecretStr, Field(min_length=1, max_length=MAX_URL_LENGTH)]
"""A URL that holds credentials (Apprise targets), at most 2048 characters."""


class WebhookSettings(BaseModel):
    """Webhook mode: Telegram calls ``url`` + ``/webhook/<path_secret>`` with ``secret_token``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl = Field(None, description="public HTTPS base URL Telegram can reach")
    path_secret: SecretStr | None = Field(
        None, min_length=1, max_length=MAX_SECRET_LENGTH, description="random path part, secret"
    )
    secret_token: SecretStr | None = Field(
        None,
        min_length=1,
        max_length=MAX_SECRET_LENGTH,
        description="sent by Telegram in X-Telegram-Bot-Api-Secret-Token (at most 256 characters)",
    )
    listen_host: str = Field("127.0.0.1", min_length=1, max_length=MAX_NAME_LENGTH)
    listen_port: int = Field(8443, ge=1, le=65535)
    allowed_networks: list[Network] = Field(
        default_factory=lambda: list(TELEGRAM_NETWORKS),
        max_length=1000,
        description="who may post updates (Telegram's ranges; [] allows any, e.g. behind a proxy;"
        " at most 1000)",
    )


class TelegramSettings(BaseModel):
    """The bot's credentials, where alerts go, and how updates arrive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = Field(None, min_length=1, max_length=MAX_SECRET_LENGTH)
    admin_chat_ids: list[TelegramChatId] = Field(
        default_factory=list, max_length=100, description="chats that get every alert (at most 100)"
    )
    group_chat_ids: list[TelegramChatId] = Field(
        default_factory=list,
        max_length=10_000,
        description="groups where users may see host and container views (secrets never)",
    )
    api_base: HttpUrl = Field(None, description="a self-hosted Bot API server's base URL")
    mode: Literal["polling", "webhook"] = "polling"
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    apprise_urls: list[SecretUrl] = Field(
        default_factory=list,
        max_length=100,
        description="Apprise targets that receive the same alerts (at most 100)",
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
    """Where state lives: an SQLite file under ``data_dir`` unless ``url`` says otherwise.

    :func:`load_settings` makes ``data_dir`` absolute: a relative one is relative to the config
    file's folder; with no config file, state goes to :func:`platform_data_dir`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Annotated[Path, AfterValidator(_short_path)] = Field(
        Path("data"),
        description="state folder, at most 4096 characters; relative to the config file's folder"
        " (no config file: the platform data directory)",
    )
    url: SecretStr | None = Field(
        None,
        min_length=1,
        max_length=MAX_PATH_LENGTH,
        description="SQLAlchemy URL; may hold a password",
    )

    def database_url(self) -> str:
        if self.url is not None:
            return self.url.get_secret_value()
        return str(self.data_dir / "hostwarden.db")


class MetricsSettings(BaseModel):
    """Health and Prometheus metrics (see docs/deploy.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        "127.0.0.1",
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description="address of the bot's /healthz and /metrics listener (loopback by default)",
    )
    port: int = Field(0, ge=0, le=65535, description="port of that listener; 0 runs no listener")
    console: bool = Field(
        False,
        description="the web console serves /healthz, and /metrics to loopback clients that"
        " no proxy forwarded",
    )


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
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    fleet: FleetSettings = Field(default_factory=FleetSettings)

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

    def secret_values(self) -> list[str]:
        """Every secret held here (each ``SecretStr``, in any section), and ``bot<TOKEN>``.

        What :func:`hostwarden.errors.remember_secrets` needs so that no message shows them.
        """
        found: list[str] = []

        def walk(value: object) -> None:
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
            elif isinstance(value, BaseModel):
                for name in type(value).model_fields:
                    walk(getattr(value, name))
            elif isinstance(value, list | tuple | set | frozenset):
                for item in value:
                    walk(item)
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)

        walk(self)
        if self.telegram.token is not None:
            found.append("bot" + self.telegram.token.get_secret_value())
        return [value for value in found if value]


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


def _constraints(location: tuple[str | int, ...]) -> list[Any]:
    """The constraint metadata (``Ge``, ``Le``, ...) of the setting at ``location``."""
    annotation: Any = Settings
    metadata: list[Any] = []
    for part in location:
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if get_origin(annotation) not in (list, dict, Annotated) and len(args) == 1:
            annotation = args[0]  # X | None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(part))
            if info is None:
                return []
            annotation, metadata = info.annotation, list(info.metadata)
        elif get_origin(annotation) in (list, dict):
            annotation, metadata = get_args(annotation)[-1], []
            if get_origin(annotation) is Annotated:
                annotation, *extra = get_args(annotation)
                for item in extra:
                    metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        else:
            return []
    return metadata


def _duration(seconds: float) -> str:
    """``315360000`` -> ``10 years``; ``86400`` -> ``1 day``."""
    units = (
        ("year", 365 * DAY_SECONDS),
        ("day", DAY_SECONDS),
        ("hour", HOUR_SECONDS),
        ("minute", MINUTE_SECONDS),
    )
    for unit, size in units:
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} seconds"


_NUMBER = re.compile(r"[-+]?[0-9_.eE]{1,32}")


def _shown(value: object) -> str | None:
    """A number the user gave, short enough for one line; never a string that is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        digits = len(str(abs(value)))
        return str(value) if digits <= 24 else f"a {digits}-digit number"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return value.strip()
    return None


_RANGE_ERRORS = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"}
)
_LENGTH_ERRORS = frozenset({"too_long", "too_short", "string_too_long", "string_too_short"})


def _message(item: Any) -> str:
    """Pydantic's message, or for a bound one naming the whole allowed range."""
    kind, location, ctx = item["type"], tuple(item["loc"]), item.get("ctx") or {}
    if kind in _RANGE_ERRORS:
        low = high = ""
        for bound in _constraints(location):
            if isinstance(bound, annotated_types.Ge):
                low = f"at least {bound.ge}"
            elif isinstance(bound, annotated_types.Gt):
                low = f"more than {bound.gt}"
            elif isinstance(bound, annotated_types.Le):
                high = f"at most {bound.le}"
                if isinstance(bound.le, int | float) and str(location[-1]).endswith("_seconds"):
                    high += f" ({_duration(bound.le)})"
            elif isinstance(bound, annotated_types.Lt):
                high = f"less than {bound.lt}"
        allowed = " and ".join(part for part in (low, high) if part)
        if not allowed:
            return str(item["msg"])
        finite = "a finite number " if kind == "finite_number" else ""
        got = _shown(item.get("input"))
        return f"must be {finite}{allowed}" + (f"; got {got}" if got else "")
    if kind in _LENGTH_ERRORS:
        value = item.get("input")
        text = kind.startswith("string") or isinstance(value, str | SecretStr)
        unit = "characters" if text else "entries"
        if "max_length" in ctx:
            limit = f"at most {ctx['max_length']}"
        else:
            limit = f"at least {ctx.get('min_length', 1)}"
        actual = ctx.get("actual_length")
        if actual is None and isinstance(value, str):
            actual = len(value)
        return f"must have {limit} {unit}" + (f"; got {actual}" if actual is not None else "")
    return str(item["msg"]).removeprefix("Value error, ")


def _problems(path: Path | None, error: ValidationError) -> list[str]:
    """One line per problem (at most :data:`MAX_PROBLEMS`, then how many more there were)."""
    lines = []
    items = error.errors()
    for item in items[:MAX_PROBLEMS]:
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        env = _env_name(tuple(item["loc"]))
        where = f"environment {env}: " if env else (f"{path}: " if path else "")
        lines.append(f"{where}{location}: {_message(item)}")
    if len(items) > MAX_PROBLEMS:
        lines.append(f"... and {len(items) - MAX_PROBLEMS} more problems")
    return lines


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_bounded(path: Path) -> str:
    """The file's text, refused unread when it is over :data:`MAX_CONFIG_BYTES`."""
    too_big = (
        f"{path}: the file is over the size limit for a config file "
        f"({MAX_CONFIG_BYTES} bytes, 1 MiB); is it the right file?"
    )
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(too_big)
    with path.open("rb") as handle:
        data = handle.read(MAX_CONFIG_BYTES + 1)  # the file may have grown since stat
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(too_big)
    return data.decode("utf-8")


def _check_shape(path: Path, text: str) -> None:
    """Refuse deep nesting and alias bombs from the parser's events, before building anything.

    Each value counts once per place it appears: an alias counts as the whole value it repeats.
    """
    sizes: list[int] = []  # per open mapping or list: values inside so far (itself included)
    anchors: list[str | None] = []
    anchored: dict[str, int] = {}
    total = 0

    def add(count: int, line: int) -> None:
        nonlocal total
        if sizes:
            sizes[-1] += count
            size = sizes[-1]
        else:
            total += count
            size = total
        if size > MAX_VALUES:
            raise ConfigError(
                f"{path}: more than {MAX_VALUES} values (counting what YAML aliases repeat), "
                f"at line {line}"
            )

    for event in yaml.parse(text, Loader=_LOADER):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.CollectionStartEvent):
            if len(sizes) >= MAX_DEPTH:
                raise ConfigError(f"{path}: nested deeper than {MAX_DEPTH} levels, at line {line}")
            sizes.append(1)
            anchors.append(event.anchor)
        elif isinstance(event, yaml.CollectionEndEvent):
            size, anchor = sizes.pop(), anchors.pop()
            if anchor is not None:
                anchored[anchor] = size
            add(size, line)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                anchored[event.anchor] = 1
            add(1, line)
        elif isinstance(event, yaml.AliasEvent):
            add(anchored.get(event.anchor or "", 1), line)


def _read_yaml(path: Path) -> Any:
    """The parsed file: size, nesting and value count checked first; one line on any problem."""
    try:
        text = _read_bounded(path)
        _check_shape(path, text)
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (C or Python)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    except RecursionError:  # not reachable past _check_shape; kept as a last guard
        raise ConfigError(f"{path}: nested too deeply") from None


def platform_data_dir() -> Path:
    """Where state goes with no config file: ``$XDG_DATA_HOME/hostwarden``.

    ``$XDG_DATA_HOME`` counts only when it is an absolute path (the XDG rule); otherwise
    ``~/.local/share/hostwarden``. Never the working directory.
    """
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "hostwarden"


def resolve_data_dir(storage: StorageSettings, config_path: Path | None) -> Path:
    """``storage.data_dir`` made absolute (``~`` expanded).

    Relative to the config file's folder; with no config file, the platform data directory
    itself when ``data_dir`` was not given, or a folder under it when a relative one was.
    """
    data_dir = storage.data_dir.expanduser()
    if data_dir.is_absolute():
        return data_dir
    if config_path is not None:
        return config_path.expanduser().absolute().parent / data_dir
    if "data_dir" not in storage.model_fields_set:
        return platform_data_dir()
    return platform_data_dir() / data_dir


def load_settings(path: Path | None = None, allow_insecure: bool = False) -> Settings:
    """Read ``path`` (if given) and the environment into validated settings.

    ``storage.data_dir`` comes back absolute (see :func:`resolve_data_dir`), so that the
    working directory never decides where state lives.
    """
    data: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} not found (create one with `hostwarden init`)")
        if not allow_insecure:
            check_permissions(path)
        loaded = _read_yaml(path)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data = loaded
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = _problems(path, exc)
        raise ConfigError("; ".join(problems), problems) from None
    except SettingsError as exc:  # an environment value that is not even parseable
        raise ConfigError(f"environment: {exc} (lists and mappings are given as JSON)") from None
    storage = settings.storage.model_copy(
        update={"data_dir": resolve_data_dir(settings.storage, path)}
    )
    return settings.model_copy(update={"storage": storage})


def default_config_path() -> Path | None:
    """``$HOSTWARDEN_CONFIG``, else ``./hostwarden.yaml`` if it exists, else nothing."""
    env = os.environ.get("HOSTWARDEN_CONFIG")
    if env:
        return Path(env)
    local = Path(DEFAULT_CONFIG)
    return local if local.is_file() else None
