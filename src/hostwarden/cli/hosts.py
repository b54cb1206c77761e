"""``hostwarden hosts ...`` (the hub's agents) and ``hostwarden agent enroll`` (on an agent).

The hub's CA lives in ``fleet/`` under the configured data directory; it is made by the first
``hosts add``. Tokens are printed once, alone on standard output, and never logged.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from hostwarden.cli.common import (
    ConfigOption,
    DatabaseOption,
    InsecureOption,
    add_row,
    cli_actor,
    err,
    fail,
    group,
    guarded,
    out,
    run_with_core,
    settings_for,
)
from hostwarden.errors import HostwardenError

if TYPE_CHECKING:
    from hostwarden.core.service import AccessCore
    from hostwarden.fleet.enrolment import HubEnrolment
    from hostwarden.fleet.tokens import EnrolmentToken
    from hostwarden.storage.fleet import HostRecord, PendingEnrolment

app = group("The hub's agents: enrolment tokens, enrolled hosts, removal.")


def _hub(core: AccessCore, directory: Path) -> HubEnrolment:
    from hostwarden.fleet.enrolment import HubEnrolment
    from hostwarden.fleet.pki import HubCA

    return HubEnrolment(
        core.store, HubCA.load_or_create(directory, core.clock.now()), core.audit, core.clock
    )


def _ca_dir(config: Path | None, allow_insecure: bool) -> Path:
    from hostwarden.fleet.pki import ca_directory

    return ca_directory(settings_for(config, allow_insecure).storage.data_dir)


@app.command("add")
def add(
    name: str,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Where the hub reaches the agent: https://ADDR:PORT."),
    ] = None,
    minutes: Annotated[
        int, typer.Option("--minutes", help="How long the token is valid (1-1440).")
    ] = 15,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Print a single-use enrolment token for host NAME (the hub's CA is made if needed)."""
    from hostwarden.fleet.enrolment import check_agent_url
    from hostwarden.fleet.target import check_host_name
    from hostwarden.fleet.tokens import check_token_seconds

    guarded(check_host_name, name)
    guarded(check_token_seconds, minutes * 60)
    if url is not None:
        url = guarded(check_agent_url, url)
    directory = _ca_dir(config, allow_insecure_config)

    async def action(core: AccessCore) -> EnrolmentToken:
        hub = await asyncio.to_thread(_hub, core, directory)
        return await hub.invite(name, url, cli_actor(), minutes * 60)

    token = run_with_core(config, database, action, allow_insecure_config)
    out.print(token.reveal(), markup=False)
    err.print(
        f"on {name}, within {minutes} min (single use): "
        "hostwarden agent enroll --hub https://THIS-CONSOLE --token TOKEN",
        markup=False,
    )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"


def _row(host: HostRecord, now: datetime, reachable: str | None) -> dict[str, object]:
    return {
        "name": host.name,
        "url": host.url,
        "state": "enrolled" if host.not_after > now else "certificate expired",
        "reachable": reachable,
        "last_seen": host.last_seen.isoformat() if host.last_seen else None,
        "version": host.agent_version,
        "cert_expires": host.not_after.isoformat(),
        "fingerprint": host.fingerprint,
    }


async def _reachable(hosts: list[HostRecord], directory: Path) -> dict[str, str]:
    """Each host's :func:`~hostwarden.fleet.probe.probe`; nothing without the hub's CA."""
    from hostwarden.errors import NotFound
    from hostwarden.fleet.pki import HubCA
    from hostwarden.fleet.probe import probe_all
    from hostwarden.fleet.tls import hub_client_context

    try:
        ca = await asyncio.to_thread(HubCA.load, directory)
    except NotFound:
        return {}
    context = hub_client_context(ca.client_cert_file, ca.client_key_file, ca.ca_file)
    return await probe_all(hosts, context)


@app.command("list")
def list_hosts(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
    probe: Annotated[
        bool,
        typer.Option("--probe/--no-probe", help="Try a TLS handshake with each host (3 s)."),
    ] = True,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """List enrolled hosts (reachable, last seen, version, cert expiry) and pending tokens."""
    directory = _ca_dir(config, allow_insecure_config)

    async def action(
        core: AccessCore,
    ) -> tuple[datetime, list[HostRecord], list[PendingEnrolment], dict[str, str]]:
        now = core.clock.now()
        hosts = await core.store.hosts.list()
        reachable = await _reachable(hosts, directory) if probe and hosts else {}
        return now, hosts, await core.store.enrolments.pending(now), reachable

    now, hosts, pending, reachable = run_with_core(config, database, action, allow_insecure_config)
    rows = [_row(h, now, reachable.get(h.name)) for h in hosts]
    rows += [
        {
            "name": p.name,
            "url": p.url,
            "state": "pending",
            "token_expires": p.expires_at.isoformat(),
        }
        for p in pending
    ]
    if as_json:
        out.print(json.dumps(rows), markup=False)
        return
    table = Table("name", "url", "state", "reachable", "last seen", "version", "cert expires")
    for host, row in zip(hosts, rows, strict=False):
        add_row(
            table, host.name, host.url or "-", row["state"], reachable.get(host.name, "-"),
            _when(host.last_seen), host.agent_version or "-", _when(host.not_after),
        )  # fmt: skip
    for token in pending:
        add_row(table, token.name, token.url or "-", f"pending until {_when(token.expires_at)}")
    out.print(table)


@app.command("remove")
def remove(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Remove host NAME (or its pending token): the hub refuses its certificate from now on."""
    from hostwarden.fleet.target import check_host_name

    guarded(check_host_name, name)
    if not yes:
        if not sys.stdin.isatty():
            fail(f"not removing {name} without confirmation: add --yes")
        if not typer.confirm(f"Remove host {name}? Its certificate will be refused."):
            fail(f"kept {name}", code=1)

    async def action(core: AccessCore) -> bool:
        from hostwarden.fleet.enrolment import remove_host

        return await remove_host(core.store.hosts, core.audit, name, cli_actor())

    if not run_with_core(config, database, action, allow_insecure_config):
        fail(f"no host named {name}")
    out.print(f"removed {name}", markup=False)


def enroll(
    hub: Annotated[str, typer.Option("--hub", help="The hub's console: https://HOST[:PORT].")],
    token: Annotated[
        str,
        typer.Option("--token", help="The token `hostwarden hosts add` printed; - reads stdin."),
    ],
    data: Annotated[
        Path | None, typer.Option("--data", help="The agent's data directory (./agent).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Check that the token is for this host name.")
    ] = None,
    hub_cafile: Annotated[
        Path | None,
        typer.Option("--hub-cafile", help="CA file for the console's HTTPS, if not a public one."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier enrolment.")] = False,
) -> None:
    """Enrol this host with a hub: a new key here, a CSR, the hub's CA pinned by the token."""
    import ssl

    from hostwarden.fleet.identity import DEFAULT_DATA
    from hostwarden.fleet.join import enroll as join

    text = sys.stdin.readline().strip() if token == "-" else token
    try:
        verify = ssl.create_default_context(cafile=str(hub_cafile)) if hub_cafile else True
        joined = asyncio.run(join(hub, text, data or DEFAULT_DATA, name, force, verify))
    except HostwardenError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot enrol: {exc.strerror or type(exc).__name__}")
    out.print(
        f"enrolled as {joined.name}; certificate valid until {_when(joined.not_after)}; "
        f"hub CA sha256:{joined.ca_fingerprint[:16]}… pinned",
        markup=False,
    )
