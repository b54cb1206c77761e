"""contrib/systemd: the units restart on failure, are hardened, and run real commands."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hostwarden.cli.app import app
from hostwarden.cli.bot import TEMPORARY_FAILURE

UNITS = sorted((Path(__file__).resolve().parent.parent / "contrib" / "systemd").glob("*.service"))


def options(unit: Path) -> dict[str, str]:
    found = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found[key] = value
    return found


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_the_unit_restarts_on_failure_and_is_hardened(unit: Path) -> None:
    found = options(unit)
    assert found["Restart"] == "on-failure"
    assert found["RestartPreventExitStatus"] == "2" != str(TEMPORARY_FAILURE)
    assert found["NoNewPrivileges"] == "yes" and found["ProtectSystem"] == "strict"
    assert found["ReadWritePaths"] == "/var/lib/hostwarden" == "/var/lib/" + found["StateDirectory"]
    assert found["StateDirectoryMode"] == "0700" and found["UMask"] == "0077"
    assert found["User"] != "root" and found["CapabilityBoundingSet"] == ""


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_the_unit_runs_a_command_that_exists(unit: Path) -> None:
    program, *args = shlex.split(options(unit)["ExecStart"])
    assert program.endswith("/hostwarden")
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "--config" in result.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_systemd_accepts_the_unit(unit: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True, text=True, timeout=60, env={"SYSTEMD_LOG_LEVEL": "warning"},
    )  # fmt: skip
    problems = [
        line for line in result.stderr.splitlines()
        if line.strip() and "/usr/local/bin/hostwarden is not executable" not in line
    ]  # fmt: skip
    assert problems == []
