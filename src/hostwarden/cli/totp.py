"""``hostwarden totp ...``: second factors."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hostwarden.cli.common import (
    ConfigOption,
    DatabaseOption,
    InsecureOption,
    cli_actor,
    fail,
    group,
    out,
    run_with_core,
)
from hostwarden.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from hostwarden.core.service import AccessCore
    from hostwarden.core.totp import Enrolment, TotpOutcome

app = group("Enrol, check and reset TOTP second factors.")


def _show_codes(codes: list[str]) -> None:
    out.print("Second factor enrolled. Recovery codes (shown once; keep them offline):")
    for code in codes:
        out.print(f"  {code}", markup=False)


@app.command("enroll")
def enroll(
    name: str,
    png: Annotated[
        Path | None, typer.Option("--png", help="Write the QR code to this PNG.")
    ] = None,
    current_code: Annotated[
        str | None, typer.Option("--current-code", help="Needed to replace an enrolled factor.")
    ] = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Start enrolment: show the QR code (terminal, or --png), then confirm with a first code."""
    from hostwarden.core.qr import qr_png, qr_text

    async def begin(core: AccessCore) -> Enrolment:
        return await core.totp.begin_enrolment(await core.accounts.get(name), current_code)

    enrolment = run_with_core(config, database, begin, allow_insecure_config)
    if enrolment.sealed is not None and not sys.stdin.isatty():
        # The new secret lives only in this process until a first code confirms it.
        fail("replacing a factor needs a terminal to type the first code; nothing changed")
    if png is not None:
        # Created private (the QR code holds the secret); never chmod what is not a plain file.
        descriptor = os.open(png, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            if stat.S_ISREG(os.fstat(descriptor).st_mode):
                os.fchmod(descriptor, 0o600)
            handle.write(qr_png(enrolment.uri))
        out.print(f"QR code written to {png}", markup=False)
    else:
        out.print(qr_text(enrolment.uri), markup=False)
    out.print(f"Secret for manual entry: {enrolment.secret}", markup=False)
    if not sys.stdin.isatty():
        out.print(f"Confirm with: hostwarden totp verify {name} CODE", markup=False)
        return
    code = typer.prompt("Code from the authenticator app")

    async def confirm(core: AccessCore) -> list[str]:
        user = await core.accounts.get(name)
        return await core.totp.confirm_enrolment(user, code, enrolment.sealed)

    _show_codes(run_with_core(config, database, confirm, allow_insecure_config))


@app.command("verify")
def verify(
    name: str,
    code: str,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Check a code (exit 0 accepted, 1 refused); a pending enrolment is confirmed by it."""
    from hostwarden.core.totp import TotpOutcome

    async def action(core: AccessCore) -> tuple[TotpOutcome, list[str]]:
        user = await core.accounts.get(name)
        factor = await core.store.totp.get_factor(user.id)
        if factor is not None and not factor.confirmed:
            try:
                return TotpOutcome.ACCEPTED, await core.totp.confirm_enrolment(user, code)
            except (InvalidInput, NotFound):
                return TotpOutcome.INVALID, []
        return await core.totp.verify(user, code), []

    outcome, codes = run_with_core(config, database, action, allow_insecure_config)
    if codes:
        _show_codes(codes)
    out.print(outcome.value.replace("_", " "), markup=False)
    raise typer.Exit(0 if outcome is TotpOutcome.ACCEPTED else 1)


@app.command("reset")
def reset(
    name: str,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Remove a user's factor and recovery codes so that they can enrol again."""

    async def action(core: AccessCore) -> None:
        await core.totp.reset(await core.accounts.get(name), cli_actor())

    run_with_core(config, database, action, allow_insecure_config)
    out.print(f"second factor reset for {name}", markup=False)
