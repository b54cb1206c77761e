"""``hostwarden agent ...``: run this host as an agent of a hub (no bot, no users, no Telegram)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hostwarden.cli.common import fail, group, settings_for
from hostwarden.errors import HostwardenError

agent = group("Run this host as an agent of a hostwarden hub (mutual TLS, no bot of its own).")

DEFAULT_LISTEN = "0.0.0.0:9443"  # the hub must reach it; mutual TLS guards it

DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="The agent's key, certificates and operation log (./agent)."),
]


@agent.command("serve")
def serve(
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to answer the hub on.")
    ] = DEFAULT_LISTEN,
    data: DataOption = None,
    read_only: Annotated[
        bool,
        typer.Option("--read-only", help="Refuse start, stop and restart, whatever the hub asks."),
    ] = False,
    docker_url: Annotated[
        str | None, typer.Option("--docker-url", help="Container engine socket or URL.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="A hostwarden.yaml whose monitor and containers sections apply."
        ),
    ] = None,
) -> None:
    """Serve this host's readings, containers and alerts to the enrolled hub only."""
    from hostwarden.fleet.agent import run_agent
    from hostwarden.fleet.identity import DEFAULT_DATA, AgentFiles

    # Only a file named here is read: the hub's own config on the same machine is not the agent's.
    settings = settings_for(config) if config is not None else None
    try:
        run_agent(
            AgentFiles(data or DEFAULT_DATA), listen, read_only, docker_url,
            containers=settings.containers if settings else None,
            monitor=settings.monitor if settings else None,
        )  # fmt: skip
    except HostwardenError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot start the agent: {exc.strerror or type(exc).__name__}")
