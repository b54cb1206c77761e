"""What ``hostwarden doctor`` checks: each check is one :class:`Check` with the fix to apply.

No check prints a secret: settings report which secrets are set, never their values, and every
line goes through the secret scrubber as well.
"""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from hostwarden.config import Settings

Status = Literal["ok", "warn", "FAIL", "skip"]

#: TOTP accepts the previous and next 30-second step: beyond this skew codes start failing.
SKEW_FAIL_SECONDS = 30.0
#: A skew worth fixing before it grows.
SKEW_WARN_SECONDS = 10.0
#: How long the network checks wait.
NETWORK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Check:
    """One result: its name, status, what was found and (unless ok) how to fix it."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def config_file(path: Path | None) -> Check:
    """The config file exists and only its owner may read it."""
    if path is None:
        return Check(
            "config",
            "warn",
            "no config file: defaults and HOSTWARDEN_* variables only",
            "hostwarden init (writes hostwarden.yaml, mode 600), or pass --config PATH",
        )
    if not path.is_file():
        return Check("config", "FAIL", f"{path} not found", "hostwarden init --config " + str(path))
    mode = _mode(path)
    if mode & 0o077:
        return Check(
            "config", "FAIL", f"{path} is mode {mode:03o}: others may read its secrets",
            f"chmod 600 {path}",
        )  # fmt: skip
    return Check("config", "ok", f"{path} (mode {mode:03o})")


def config_values(settings: Settings | None, problems: list[str]) -> Check:
    """The settings load: every value in its bounds."""
    if settings is None:
        shown = "; ".join(problems[:3]) + (
            f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        )
        return Check("settings", "FAIL", shown, "correct the values named above")
    return Check("settings", "ok", "every value within its bounds")


def secrets_present(settings: Settings) -> Check:
    """The secrets the bot and the console need are set (their values are never shown)."""
    needed = {
        "telegram.token": settings.telegram.token,
        "totp.encryption_key": settings.totp.encryption_key,
    }
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        return Check(
            "secrets",
            "FAIL",
            f"not set: {', '.join(missing)}",
            "put the bot token from @BotFather in telegram.token; `hostwarden init` writes a key",
        )
    extra = "" if settings.web.secret_key is not None else "; web.secret_key not set (console)"
    status: Status = "ok" if not extra else "warn"
    fix = "" if not extra else "set web.secret_key to a long random string to run the console"
    return Check("secrets", status, "telegram.token and totp.encryption_key set" + extra, fix)


def alert_destination(settings: Settings) -> Check:
    """Alerts have somewhere to go: an admin chat or an Apprise target."""
    chats, targets = len(settings.telegram.admin_chat_ids), len(settings.telegram.apprise_urls)
    if chats + targets == 0:
        return Check(
            "alerts",
            "FAIL",
            "no destination: alerts about strangers would go nowhere",
            "set telegram.admin_chat_ids (ask the bot /getmyid) or telegram.apprise_urls",
        )
    return Check("alerts", "ok", f"{chats} admin chat(s), {targets} Apprise target(s)")


def data_dir(settings: Settings, database: str | None) -> Check:
    """The data directory exists, is ours and is private (0700)."""
    if database is not None or settings.storage.url is not None:
        return Check("data dir", "skip", "the database is given by URL")
    folder = settings.storage.data_dir
    if not folder.exists():
        return Check(
            "data dir", "warn", f"{folder} does not exist yet", "it is created (mode 700) at start"
        )
    if not folder.is_dir():
        return Check(
            "data dir", "FAIL", f"{folder} is not a directory", "point storage.data_dir at a folder"
        )
    info = folder.stat()
    if info.st_uid != os.geteuid():
        return Check(
            "data dir", "FAIL", f"{folder} belongs to uid {info.st_uid}, not to this user",
            f"run as its owner, or: chown -R $(id -u) {folder}",
        )  # fmt: skip
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return Check("data dir", "warn", f"{folder} is mode {mode:03o}", f"chmod 700 {folder}")
    return Check("data dir", "ok", f"{folder} (mode {mode:03o})")


def _sqlite_file(settings: Settings, database: str | None) -> Path | None:
    from hostwarden.runtime import sqlite_path

    return sqlite_path(database or settings.storage.database_url())


async def _revision(url: str) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from hostwarden.storage.sql.db import normalise_url

    engine = create_async_engine(normalise_url(url))
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: sync.dialect.get_table_names(sync))
            if "alembic_version" not in names:
                return None
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
            return str(row[0]) if row else None
    finally:
        await engine.dispose()


def _head() -> str | None:
    from alembic.script import ScriptDirectory

    from hostwarden.storage.sql.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def database_state(settings: Settings, database: str | None) -> Check:
    """The database answers, its schema is the newest, and an SQLite file is mode 0600."""
    from hostwarden.errors import scrub

    url = database or settings.storage.database_url()
    try:
        path = _sqlite_file(settings, database)
    except Exception as exc:
        return Check("database", "FAIL", scrub(str(exc)), "fix storage.url or --database")
    if path is not None and not path.exists():
        return Check("database", "warn", f"{path} not created yet", "it is created at first start")
    try:
        current = await asyncio.wait_for(_revision(url), NETWORK_TIMEOUT_SECONDS)
    except Exception as exc:
        reason = scrub(str(exc)).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return Check(
            "database", "FAIL", f"cannot read it: {reason}", "check storage.url / the file"
        )
    head = _head()
    where = str(path) if path is not None else "the database"
    if current != head:
        return Check(
            "database", "warn", f"{where}: schema at {current or 'none'}, newest is {head}",
            "migrations run at start: start the bot (or any command) once",
        )  # fmt: skip
    if path is not None and _mode(path) & 0o077:
        return Check("database", "warn", f"{path} is mode {_mode(path):03o}", f"chmod 600 {path}")
    return Check("database", "ok", f"{where}: reachable, schema current ({head})")


@dataclass(frozen=True)
class TelegramAnswer:
    """What ``getMe`` said: the bot's username or an error, and the server's ``Date``."""

    username: str | None
    error: str | None
    date: str | None


async def get_me(settings: Settings) -> TelegramAnswer:
    """Call ``getMe`` through ``telegram.api_base`` (Telegram's own by default)."""
    import aiohttp

    assert settings.telegram.token is not None
    base = (settings.telegram.api_base or "https://api.telegram.org").rstrip("/")
    url = f"{base}/bot{settings.telegram.token.get_secret_value()}/getMe"
    timeout = aiohttp.ClientTimeout(total=NETWORK_TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as reply:
            date = reply.headers.get("Date")
            body = await reply.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return TelegramAnswer(None, f"cannot reach {base}: {type(exc).__name__} {exc}", None)
    if not isinstance(body, dict) or not body.get("ok"):
        described = body.get("description") if isinstance(body, dict) else None
        return TelegramAnswer(None, f"{base} refused the token: {described or reply.status}", date)
    result = body.get("result") or {}
    return TelegramAnswer(str(result.get("username", "?")), None, date)


def telegram(answer: TelegramAnswer | None) -> Check:
    """The token works against the configured Bot API server."""
    if answer is None:
        return Check("telegram", "skip", "no token")
    if answer.error is not None:
        fix = "check telegram.token (from @BotFather) and telegram.api_base, and the network"
        return Check("telegram", "FAIL", answer.error, fix)
    return Check("telegram", "ok", f"getMe answered: @{answer.username}")


def clock_skew(server_date: str | None, now: datetime) -> Check:
    """This machine's clock against the Bot API server's ``Date``: TOTP needs it right."""
    if server_date is None:
        return Check("clock", "skip", "no server time to compare with (Telegram not reached)")
    try:
        theirs = parsedate_to_datetime(server_date)
    except (TypeError, ValueError):
        return Check("clock", "skip", "the server sent no usable Date")
    skew = (now - theirs.astimezone(UTC)).total_seconds()
    fix = "turn on time synchronisation: timedatectl set-ntp true (or chrony/ntpd)"
    said = f"{abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the Bot API server"
    if abs(skew) > SKEW_FAIL_SECONDS:
        return Check("clock", "FAIL", said + ": TOTP codes will be refused", fix)
    if abs(skew) > SKEW_WARN_SECONDS:
        return Check("clock", "warn", said, fix)
    return Check("clock", "ok", said if abs(skew) >= 1 else "in step with the Bot API server")


async def engine(settings: Settings) -> Check:
    """The container engine at ``containers.docker_url`` answers a ping."""
    import docker

    url, timeout = settings.containers.docker_url, settings.containers.timeout_seconds

    def ping() -> bool:
        client = docker.DockerClient(base_url=url, timeout=max(1, int(timeout)))
        try:
            return bool(client.ping())
        finally:
            client.close()

    fix = "start the engine, or set containers.docker_url (podman: unix:///run/podman/podman.sock)"
    try:
        answered = await asyncio.wait_for(asyncio.to_thread(ping), timeout)
    except Exception as exc:
        return Check("engine", "FAIL", f"{url} unreachable ({type(exc).__name__})", fix)
    return Check("engine", "ok" if answered else "FAIL", f"{url} answered", "" if answered else fix)


def now_utc() -> datetime:
    """The time the clock check compares with."""
    return datetime.now(UTC)
