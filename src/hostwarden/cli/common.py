"""What every command shares: the --config and --database options, errors, output.

Imports stay light here and in every command module (the database, the bot and the settings
model are imported inside the functions that need them), so that ``--version``, ``--help`` and
shell completion answer at once.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hostwarden.errors import ConfigError, HostwardenError, remember_secrets, scrub, url_password

if TYPE_CHECKING:
    from hostwarden.config import Settings
    from hostwarden.core.service import AccessCore

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (default: $HOSTWARDEN_CONFIG or ./hostwarden.yaml)."
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database", "-d", help="Store to use: a SQLAlchemy URL, or a path for an SQLite file."
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option(
        "--allow-insecure-config", help="Accept a config file others can read (not advised)."
    ),
]


def group(help_text: str) -> typer.Typer:
    """A command group with plain help: flags show no ``<bool>`` placeholder."""
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)


def add_row(table: Table, *values: object) -> None:
    """Add a row whose cells are plain text: names from attackers must not become markup."""
    table.add_row(*(Text(str(value)) for value in values))


def one_line(text: str, limit: int = 1000) -> str:
    """``text`` on one line, without the secrets of the loaded settings, at most ``limit`` long.

    The secrets go before the cut, so that no part of one survives it.
    """
    return " ".join(scrub(text).split())[:limit]


def unexpected(exc: BaseException) -> str:
    """The line printed for an error nobody expected: its type and its masked message.

    Library messages may carry credentials (aiogram puts ``/bot<TOKEN>/`` in its URLs): the
    loaded settings' secrets and anything shaped like a token or a URL password are masked.
    """
    from hostwarden.containers.redact import mask_secrets

    return f"unexpected {type(exc).__name__}: {one_line(mask_secrets(scrub(str(exc))), 200)}"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line to stderr (secrets masked) and exit."""
    err.print(f"error: {one_line(message)}", markup=False)
    raise typer.Exit(code)


def guarded(function: Callable[..., T], *args: object) -> T:
    """Call ``function``; a hostwarden error becomes one line on stderr and exit status 2."""
    try:
        return function(*args)
    except HostwardenError as exc:
        fail(str(exc))


def settings_for(config: Path | None, allow_insecure: bool = False) -> Settings:
    """Load settings; a bad config prints one line per problem.

    The loaded settings' secrets are remembered, so no later message or log line shows them.
    """
    from hostwarden.config import default_config_path, load_settings

    try:
        settings = load_settings(config or default_config_path(), allow_insecure)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"error: {one_line(problem)}", markup=False)
        raise typer.Exit(2) from None
    remember_secrets(settings.secret_values())
    return settings


def cli_actor() -> str:
    """Who the audit trail names for CLI actions."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli:unknown"


def run_with_core(
    config: Path | None,
    database: str | None,
    action: Callable[[AccessCore], Awaitable[T]],
    allow_insecure: bool = False,
) -> T:
    """Open the core, run ``action``, close; errors become one line and exit status 2."""
    from sqlalchemy.exc import SQLAlchemyError

    from hostwarden.containers.redact import mask_secrets
    from hostwarden.runtime import configure_logging, open_core

    settings = settings_for(config, allow_insecure)
    password = url_password(database) if database else None
    if password:
        remember_secrets([*settings.secret_values(), password])
    configure_logging(sys.stderr, logging.WARNING)

    async def main() -> T:
        async with open_core(settings, database) as core:
            return await action(core)

    try:
        return asyncio.run(main())
    except HostwardenError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        message = mask_secrets(scrub(str(exc))).splitlines()
        fail(f"database error: {type(exc).__name__}: {message[0][:200] if message else ''}")
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))


def read_password(from_stdin: bool, confirm: bool = True) -> str:
    """A password from one stdin line, or typed twice at a hidden prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin given but standard input is empty")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask for a password: use --password-stdin")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return value
