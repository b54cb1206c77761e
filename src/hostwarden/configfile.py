"""``hostwarden init``: a commented configuration with generated keys, written mode 0600."""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

import yaml

from hostwarden.core.secretbox import generate_key
from hostwarden.errors import ConfigError, Conflict

TEMPLATE = """\
# hostwarden configuration. Keep this file private: chmod 600 (hostwarden refuses it otherwise).
# Every value can be overridden by an environment variable: HOSTWARDEN_<SECTION>__<KEY>,
# for example HOSTWARDEN_LOCKOUT__WINDOW_SECONDS=600.

telegram:
  # The bot token from @BotFather. If alerts say strangers found the bot, regenerate it.
  token: null
  # Chats that receive security alerts (your own user ID works for a private chat).
  admin_chat_ids: {admin_ids}
  # A self-hosted Bot API server, e.g. http://127.0.0.1:8081 (null: Telegram's own).
  api_base: null
  # polling (no open port needed) or webhook (Telegram calls webhook.url).
  mode: polling
  webhook:
    url: null                 # public HTTPS base URL, e.g. https://bot.example.org
    path_secret: "{path_secret}"
    secret_token: "{secret_token}"
    listen_host: 127.0.0.1
    listen_port: 8443
    # Who may post updates: Telegram's ranges. Behind your own reverse proxy use [].
    allowed_networks: [149.154.160.0/20, 91.108.4.0/22]
  # Apprise URLs that receive the same alerts (mailto://, ntfy://, slack://, json://, ...).
  apprise_urls: []

storage:
  # State lives in an SQLite file under data_dir, unless url names another database,
  # e.g. postgresql://hostwarden:PASSWORD@127.0.0.1/hostwarden
  data_dir: {data_dir}
  url: null

access:
  # Telegram user IDs allowed to use the bot; admins may also manage containers (with 2FA).
  allowed_telegram_ids: []
  # No admin here? The bot prints a one-time code at start; /claim CODE makes you the admin.
  admin_telegram_ids: {admin_ids}
  # Unknown users are blocked after this many attempts.
  max_attempts: 3
  # Known users: at most this many requests per window (more are dropped; 0: no limit).
  rate_limit: 20
  rate_window_seconds: 10

lockout:
  window_seconds: 3600        # failures count inside this window
  block_seconds: 3600         # the first block; each next one doubles...
  max_block_seconds: 86400    # ...up to this
  permanent_after: 0          # block for good after this many blocks (0: never)
  password_max_failures: 5
  totp_max_failures: 3

alerts:
  suppress_seconds: 300       # at most one alert per user this often
  digest_above_per_minute: 20 # beyond this, alerts fold into one digest a minute
  give_up_seconds: 86400      # a recipient failing this long after an alert stops getting it

sessions:
  idle_seconds: 1800
  absolute_seconds: 28800
  binding: strict             # strict | subnet | off
  mfa_fresh_seconds: 600      # a passed 2FA check covers critical actions this long

containers:
  docker_url: unix:///var/run/docker.sock   # podman: unix:///run/podman/podman.sock
  timeout_seconds: 10         # every engine call gives up after this
  # /container shows environment values only for these names; others are (hidden).
  env_allow_list: [PATH, TZ, LANG, LC_ALL, HOME, HOSTNAME, TERM]
  # Registries /images asks directly (Registry HTTP API v2) whether a tag has a newer digest;
  # any other registry is asked through the engine, with the credentials of `docker login`.
  registries:
    docker.io: https://registry-1.docker.io

updates:
  # A GitHub-style releases API URL for /check_bot_updates (null: no check; hostwarden has no
  # release feed of its own yet).
  release_feed_url: null

monitor:
  enabled: true
  interval_seconds: 60
  cpu_percent: 90
  memory_percent: 90
  disk_percent: 90
  temperature_celsius: 85
  hysteresis: 5               # a value must fall this far below its line to alert again
  watch_containers: true      # alert when a new container or image appears

web:
  host: 127.0.0.1             # the console (`hostwarden web`); put it behind HTTPS to expose it
  port: 8080
  plain_http: false           # true drops Secure/__Host- from cookies: allowed on loopback only
  trusted_proxy: false        # true believes X-Forwarded-For (only behind your own proxy)
  secret_key: "{web_key}"

totp:
  issuer: hostwarden
  # Encrypts TOTP secrets at rest. Losing it means everyone enrols again.
  # `hostwarden keys rotate` replaces it and moves the old one to previous_keys.
  encryption_key: "{totp_key}"
  previous_keys: []
"""


def write_config(
    path: Path, data_dir: Path, force: bool = False, admin_telegram_id: int | None = None
) -> None:
    """Write a fresh config to ``path`` with mode 0600; refuses to overwrite unless ``force``.

    ``admin_telegram_id`` (the owner) goes everywhere it is needed: the admin IDs, and the alert
    chats (a user's ID is their private chat with the bot).
    """
    if path.exists() and not force:
        raise Conflict(f"{path} already exists (use --force to replace it)")
    text = TEMPLATE.format(
        admin_ids=f"[{admin_telegram_id}]" if admin_telegram_id is not None else "[]",
        data_dir=data_dir,
        totp_key=generate_key(),
        path_secret=secrets.token_urlsafe(24),
        secret_token=secrets.token_urlsafe(32),
        web_key=secrets.token_urlsafe(32),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # also when the file existed with wider permissions


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, mode 0600 (a crash leaves the old or the new)."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_TOTP = re.compile(r"^totp:[ \t]*(#.*)?$")
_KEY = re.compile(r"^([ \t]+)(encryption_key|previous_keys):")


def with_rotated_key(text: str, new_key: str, previous: list[str]) -> str:
    """The config ``text`` with ``totp.encryption_key`` = ``new_key`` and ``previous_keys``.

    Only those two lines change (comments and everything else stay); a ``previous_keys`` line is
    added under ``encryption_key`` when there is none. Refused, with nothing written, when the
    file's layout is not one this can edit safely (the result is checked by parsing it).
    """
    lines = text.splitlines()
    in_totp, indent, found = False, "  ", {}
    for number, line in enumerate(lines):
        if _TOTP.match(line):
            in_totp = True
            continue
        if in_totp and line and not line[0].isspace() and not line.startswith("#"):
            in_totp = False
        match = _KEY.match(line) if in_totp else None
        if match:
            indent, name = match.group(1), match.group(2)
            found[name] = number
    if "encryption_key" not in found:
        raise ConfigError("the config has no totp.encryption_key line to replace")
    lines[found["encryption_key"]] = f'{indent}encryption_key: "{new_key}"'
    listed = f"{indent}previous_keys: {json.dumps(previous)}"
    if "previous_keys" in found:
        lines[found["previous_keys"]] = listed
    else:
        lines.insert(found["encryption_key"] + 1, listed)
    result = "\n".join(lines) + "\n"
    try:
        parsed: Any = yaml.safe_load(result)
    except yaml.YAMLError:
        parsed = None
    totp = parsed.get("totp") if isinstance(parsed, dict) else None
    if not isinstance(totp, dict) or (totp.get("encryption_key"), totp.get("previous_keys")) != (
        new_key,
        previous,
    ):
        raise ConfigError(
            "cannot update totp.encryption_key and totp.previous_keys in this file safely "
            "(write them as one-line values under `totp:`)"
        )
    return result
