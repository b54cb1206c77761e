"""The built wheel, installed into a fresh virtual environment, works away from the checkout.

`uv build --wheel`, a new `python3 -m venv`, the locked dependency versions (as `uv export`
lists them; installed by `uv pip`, from uv's cache, in seconds where pip takes most of a
minute) and then the wheel with pip itself: the demo runs from another directory (so the
templates, static files and migrations must be in the wheel), and `doctor` passes on a good
config and fails on a broken one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hostwarden import __version__
from hostwarden.sandbox.server import serve
from tests.cli.test_doctor import engine_double, good_config

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:" + "A" * 35


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.fail("uv is needed to build the wheel: run ./scripts/test, which installs it")
    return found


def _run(*args: str | Path, cwd: Path = ROOT, timeout: float = 600) -> str:
    result = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args[:3]}: {result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the locked dependencies and the built wheel."""
    where = tmp_path_factory.mktemp("wheel")
    uv = _uv()
    _run(uv, "build", "--wheel", "--quiet", "--out-dir", where / "dist")
    (wheel,) = (where / "dist").glob("hostwarden-*.whl")
    requirements = where / "requirements.txt"
    export = ("export", "--frozen", "--no-dev", "--no-emit-project", "--quiet")
    _run(uv, *export, "--output-file", requirements)
    _run(sys.executable, "-m", "venv", where / "venv")
    python = where / "venv" / "bin" / "python"
    _run(uv, "pip", "install", "--quiet", "--python", python, "-r", requirements)
    _run(
        python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", wheel
    )
    return where / "venv"


def _environment(home: Path) -> dict[str, str]:
    """This process's environment without hostwarden's settings or the checkout's venv."""
    drop = ("HOSTWARDEN_", "VIRTUAL_ENV", "PYTHONPATH", "UV_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | {"XDG_DATA_HOME": str(home / "xdg"), "HOME": str(home)}


def test_the_installed_package_is_the_wheel_not_the_checkout(venv: Path, tmp_path: Path) -> None:
    code = "import hostwarden, sys; print(hostwarden.__file__)"
    where = _run(venv / "bin" / "python", "-c", code, cwd=tmp_path)
    assert where.startswith(str(venv)), where
    shown = _run(venv / "bin" / "hostwarden", "--version", cwd=tmp_path)
    assert shown == f"hostwarden {__version__}\n"
    # PEP 561: a project importing the core type-checks against it (records are frozen there)
    assert (Path(where.strip()).parent / "py.typed").is_file()


def test_the_installed_demo_runs_outside_the_checkout(venv: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [venv / "bin" / "hostwarden", "demo", "--port", "0", "--web-port", "0", "--no-stay",
         "--data-dir", tmp_path / "demo"],
        cwd=tmp_path, env=_environment(tmp_path), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Your Telegram ID is 987654321" in result.stdout
    assert "Block lifted" in result.stdout and "The web console" in result.stdout
    assert (tmp_path / "demo" / "hostwarden.db").is_file()


async def _doctor(venv: Path, config: Path, home: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        venv / "bin" / "hostwarden", "doctor", "-c", str(config),
        cwd=home, env=_environment(home),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert err == b""
    return process.returncode or 0, out.decode()


async def test_the_installed_doctor_on_a_good_and_a_broken_config(
    venv: Path, tmp_path: Path
) -> None:
    async with serve(TOKEN) as sandbox, engine_double() as docker_url:
        config = good_config(tmp_path, sandbox.url, docker_url)
        users = await asyncio.create_subprocess_exec(
            venv / "bin" / "hostwarden", "users", "list", "-c", str(config),
            cwd=tmp_path, env=_environment(tmp_path),
        )  # fmt: skip
        assert await asyncio.wait_for(users.wait(), 120) == 0
        code, out = await _doctor(venv, config, tmp_path)
        assert code == 0 and out.splitlines()[-1] == "all checks passed", out
        data = yaml.safe_load(config.read_text())
        data["telegram"]["token"] = "999:" + "Z" * 35
        data["telegram"]["admin_chat_ids"] = []
        config.write_text(yaml.safe_dump(data))
        code, out = await _doctor(venv, config, tmp_path)
    assert code == 1
    failed = [line.split(":")[0] for line in out.splitlines() if line.startswith("FAIL")]
    assert failed == ["FAIL telegram", "FAIL alerts"], out
    assert "Z" * 35 not in out
