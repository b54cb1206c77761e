"""``hostwarden doctor``: one line per check, with the fix; exit 1 when any check fails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import typer

from hostwarden.cli import checks
from hostwarden.cli.checks import Check
from hostwarden.cli.common import ConfigOption, DatabaseOption, one_line, out


async def run_checks(
    config: Path | None, database: str | None, now: Callable[[], datetime] = checks.now_utc
) -> list[Check]:
    """Every check, in order; those that need settings are skipped when they do not load."""
    from hostwarden.config import default_config_path, load_settings
    from hostwarden.errors import ConfigError, remember_secrets

    path = config or default_config_path()
    found = [checks.config_file(path)]
    try:
        settings = load_settings(path if path is None or path.is_file() else None, True)
        problems: list[str] = []
    except ConfigError as exc:
        settings, problems = None, list(exc.problems) or [str(exc)]
    found.append(checks.config_values(settings, problems))
    if settings is None:
        return [*found, Check("the rest", "skip", "needs settings that load")]
    remember_secrets(settings.secret_values())
    found += [
        checks.secrets_present(settings),
        checks.data_dir(settings, database),
        await checks.database_state(settings, database),
    ]
    answer = await checks.get_me(settings) if settings.telegram.token is not None else None
    found += [
        checks.telegram(answer),
        checks.clock_skew(answer.date if answer else None, now()),
        await checks.engine(settings),
        checks.alert_destination(settings),
    ]
    return found


def render(check: Check) -> str:
    """``ok config: /etc/hostwarden.yaml (mode 600)``, with ``-> fix: ...`` when there is one."""
    line = f"{check.status} {check.name}: {check.detail}"
    if check.fix and check.status != "ok":
        line += f"  -> fix: {check.fix}"
    return one_line(line)


def doctor(config: ConfigOption = None, database: DatabaseOption = None) -> None:
    """Check the config, data directory, database, Telegram, engine, alerts and clock."""
    results = asyncio.run(run_checks(config, database))
    for check in results:
        out.print(render(check), markup=False)
    failed = sum(check.status == "FAIL" for check in results)
    out.print(f"{failed} check(s) failed" if failed else "all checks passed", markup=False)
    raise typer.Exit(1 if failed else 0)
