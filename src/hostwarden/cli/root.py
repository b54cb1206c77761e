"""The ``hostwarden`` command tree: every subcommand, with their imports deferred."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hostwarden import __version__
from hostwarden.cli import admin, agent, bot, doctor, hosts, keys, totp, users
from hostwarden.cli.common import DatabaseOption, fail, out
from hostwarden.errors import HostwardenError

app = typer.Typer(
    name="hostwarden",
    help="Access control, audit and management for servers, over Telegram and the web.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
)
app.add_typer(users.app, name="users")
app.add_typer(totp.app, name="totp")
app.add_typer(admin.blocks, name="blocks")
app.add_typer(admin.sessions, name="sessions")
app.add_typer(admin.audit, name="audit")
app.add_typer(bot.sandbox, name="sandbox")
app.add_typer(keys.app, name="keys")
app.add_typer(agent.agent, name="agent")
app.add_typer(hosts.app, name="hosts")
agent.agent.command("enroll")(hosts.enroll)
app.command("bot")(bot.run_bot)
app.command("web")(bot.run_web)
app.command("doctor")(doctor.doctor)


def _version(value: bool) -> None:
    if value:
        out.print(f"hostwarden {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """hostwarden keeps strangers out of your server's bot and console."""


@app.command("init")
def init(
    path: Annotated[Path, typer.Option("--config", "-c", help="Where to write.")] = Path(
        "hostwarden.yaml"
    ),
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", help="Where state will live (relative: to the config file)."),
    ] = Path("data"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    admin_telegram_id: Annotated[
        int | None,
        typer.Option(
            "--admin-telegram-id",
            min=1,
            help="Your Telegram user ID (the bot's /getmyid): admin, and where alerts go.",
        ),
    ] = None,
) -> None:
    """Write a commented config with a generated encryption key, readable by you only (0600)."""
    from hostwarden.configfile import write_config

    try:
        write_config(path, data_dir, force, admin_telegram_id)
    except HostwardenError as exc:
        fail(str(exc))
    owner = (
        f"; {admin_telegram_id} is the admin and gets the alerts"
        if admin_telegram_id is not None
        else "; with no admin, the bot prints a one-time /claim code when it starts"
    )
    out.print(f"wrote {path} (mode 600){owner}", markup=False)


@app.command("demo")
def demo(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Keep the demo's SQLite file here.")
    ] = None,
    database: DatabaseOption = None,
    port: Annotated[int, typer.Option("--port", help="Sandbox port (0: any free one).")] = 8081,
    stay: Annotated[
        bool | None,
        typer.Option("--stay/--no-stay", help="Keep running to chat (default: on a terminal)."),
    ] = None,
    docker_url: Annotated[
        str | None, typer.Option("--docker-url", help="Container engine socket to show.")
    ] = None,
    web_port: Annotated[
        int, typer.Option("--web-port", help="Web console port (0: any free one).")
    ] = 8080,
) -> None:
    """Run the whole product offline: bot, sandboxed Telegram, web console, demo users, SQLite."""
    from hostwarden.demo import run_demo

    try:
        run_demo(data_dir, database, port, stay, docker_url, web_port)
    except OSError as exc:
        fail(f"cannot start the demo: {exc.strerror or exc} (try --port 0 --web-port 0)")
