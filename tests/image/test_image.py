"""The container image, built from the Dockerfile and run for real with podman.

What runs here is what `docker compose up -d` runs: the image's own user, command, volume and
health check, with compose.yaml's hardening (read-only root, no capabilities, no new privileges)
and the engine's socket mounted in with its group added (compose.yaml's second way).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import pyotp
import pytest
import yaml

from hostwarden import __version__
from hostwarden.containers.engine import parse_time
from hostwarden.core.secretbox import generate_key
from hostwarden.sandbox.client import SandboxClient
from hostwarden.sandbox.server import RunningSandbox, serve
from tests.bot.fakes import TOKEN
from tests.containers.conftest import LOOP, wait_for_log
from tests.containers.podman import IMAGE as BUSYBOX
from tests.containers.podman import PodmanService
from tests.image.conftest import ROOT, BuiltImage

USER_ID, ADMIN_ID = 1001, 1002
UID = "10001"
#: The group the tests give the engine's socket, as a Docker host's socket has group `docker`.
SOCKET_GID = 23750
#: compose.yaml's hardening: a read-only root with a private /tmp, no capabilities.
HARDENING = ("--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",  # noqa: S108
             "--security-opt", "no-new-privileges")  # fmt: skip
#: Runs that need no network get none (the demo talks to itself over loopback).
OFFLINE = ("--network", "none", *HARDENING)
METRICS = ROOT / "artifacts" / "image.json"
WAIT = 30.0


def podman_run(
    service: PodmanService, *args: str, timeout: float = 180, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], env=service.env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        # Without systemd, podman says it cannot schedule health checks: noise here.
        lines = [line for line in result.stderr.splitlines() if "systemd connection" not in line]
        raise AssertionError(f"podman {' '.join(args[:3])} ...: {' / '.join(lines)[-2000:]}")
    return result


async def podman_async(
    service: PodmanService, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """podman in a worker thread, so that the sandbox on this loop keeps answering the bot."""
    return await asyncio.to_thread(podman_run, service, *args, check=check)


def record(**values: object) -> None:
    """Keep the measured figures (docs/performance.md) in artifacts/image.json."""
    METRICS.parent.mkdir(exist_ok=True)
    known = json.loads(METRICS.read_text()) if METRICS.is_file() else {}
    METRICS.write_text(json.dumps({**known, **values}, indent=2) + "\n")


def _data_files(root: Path) -> dict[str, str]:
    """Package files that are not Python source: what a wheel most easily leaves out."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    }


LIST_DATA_FILES = """
import hashlib, json, pathlib, hostwarden
root = pathlib.Path(hostwarden.__file__).parent
print(json.dumps({
    str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
    for p in sorted(root.rglob("*"))
    if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
}))
"""


def test_the_image_runs_as_a_fixed_user_without_compilers(
    built_image: BuiltImage, podman: PodmanService
) -> None:
    [info] = json.loads(podman_run(podman, "image", "inspect", built_image.name).stdout)
    config = info["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Cmd"] == ["hostwarden", "bot"]
    assert "/data" in config["Volumes"]
    health = info.get("Healthcheck") or config.get("Healthcheck")  # podman keeps it at the top
    assert health["Test"] == ["CMD", "hostwarden", "blocks", "list"]
    assert "HOSTWARDEN_STORAGE__DATA_DIR=/data" in config["Env"]

    script = (
        "id -u; id -g; stat -c '%u %a' /data; "
        "for tool in gcc cc c++ clang make uv /opt/hostwarden/bin/pip; do "
        "command -v $tool || true; done; hostwarden --version"
    )
    out = podman_run(podman, "run", "--rm", *OFFLINE, built_image.name, "sh", "-c", script)
    lines = out.stdout.splitlines()
    assert lines[:3] == [UID, UID, f"{UID} 700"], lines  # not root; /data is its own
    assert lines[3:] == [f"hostwarden {__version__}"], f"build tools in the image: {lines[3:-1]}"

    listed = podman_run(
        podman, "run", "--rm", *OFFLINE, built_image.name, "python", "-c", LIST_DATA_FILES
    )
    installed = json.loads(listed.stdout)
    source = _data_files(ROOT / "src" / "hostwarden")
    assert any(name.startswith("web/templates/") for name in source)
    assert any(name.startswith("web/static/") for name in source)
    assert any(name.startswith("bot/templates/") for name in source)
    assert installed == source  # every template and static file, as they are in the tree
    record(
        image_bytes=built_image.size_bytes,
        base=built_image.base,
        base_build_seconds=round(built_image.base_seconds, 1),
        image_build_seconds=round(built_image.build_seconds, 1),
    )


def test_the_demo_runs_inside_the_image(built_image: BuiltImage, podman: PodmanService) -> None:
    scratch = "/tmp/demo"  # noqa: S108 - inside the container, on its own tmpfs
    result = podman_run(
        podman, "run", "--rm", *OFFLINE, built_image.name,
        "hostwarden", "demo", "--data-dir", scratch, "--port", "0", "--web-port", "0", "--no-stay",
    )  # fmt: skip
    out = result.stdout
    assert "Your Telegram ID is 987654321" in out
    assert "Unknown user blocked" in out and "98*****21" in out
    assert "Access denied." in out
    assert "✅ Code accepted." in out and "Block lifted" in out
    assert "The web console" in out


# The bot in the image, against the sandbox (Telegram) and the engine's socket.


async def _until(
    chat: SandboxClient,
    after: int,
    chat_id: int,
    found: Callable[[dict[str, Any]], bool],
    wait: float = WAIT,
) -> dict[str, Any]:
    """The first event in ``chat_id`` after ``after`` that ``found`` accepts (long polling)."""
    deadline = time.monotonic() + wait
    count = 1
    while True:
        left = deadline - time.monotonic()
        events = await chat.events(after, chat_id, count, max(left, 0))
        for event in events:
            if found(event):
                return event
        if left <= 0:
            texts = [e.get("text") for e in events]
            raise AssertionError(f"no such answer in chat {chat_id} within {wait:g} s: {texts}")
        count = len(events) + 1


def _has(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: text in (event.get("text") or "")


def _started_at(client: docker.DockerClient, name: str) -> datetime:
    started = parse_time(client.containers.get(name).attrs["State"]["StartedAt"])
    assert started is not None
    return started


async def _wait_for_poller(
    sandbox: RunningSandbox, podman: PodmanService, name: str, seconds: float = 180
) -> None:
    """Until the bot's first getUpdates arrives (the sandbox says so), or its container exits."""
    state = sandbox.state
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with state.changed:
            polled = state.changed.wait_for(lambda: state.poller is not None)
            with contextlib.suppress(TimeoutError):  # not yet: is the container still up?
                await asyncio.wait_for(polled, 2)
                return
        running = await podman_async(podman, "inspect", "--format", "{{.State.Running}}", name)
        if running.stdout.strip() != "true":
            logs = await podman_async(podman, "logs", name, check=False)
            raise AssertionError(f"the bot's container exited:\n{logs.stdout[-3000:]}")
    raise AssertionError(f"the bot did not poll within {seconds:g} s")


async def _wait_healthy(podman: PodmanService, name: str, seconds: float = 240) -> str:
    """Run the image's health check until it passes (bounded); podman then says healthy."""
    deadline = time.monotonic() + seconds
    while True:
        check = await podman_async(podman, "healthcheck", "run", name, check=False)
        if check.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"never healthy: {check.stdout.strip()} {check.stderr.strip()}")
    [info] = json.loads((await podman_async(podman, "inspect", name)).stdout)
    health = info["State"].get("Health") or info["State"].get("Healthcheck") or {}
    return str(health.get("Status"))


@pytest.fixture
async def busybox(podman: PodmanService) -> AsyncIterator[tuple[str, docker.DockerClient]]:
    client = docker.DockerClient(base_url=podman.url, timeout=30)
    name = f"hwimage-{secrets.token_hex(4)}"
    container = client.containers.run(BUSYBOX, ["sh", "-c", LOOP], name=name, detach=True)
    wait_for_log(container, "tick 0")
    yield name, client
    container.remove(force=True)
    client.close()


@pytest.fixture
def engine_socket(podman: PodmanService) -> Path:
    """The engine's socket as a Docker host has it: root's, group-writable, one group."""
    os.chown(podman.socket, 0, SOCKET_GID)
    podman.socket.chmod(0o660)
    return podman.socket


def test_without_the_sockets_group_the_engine_is_out_of_reach(
    built_image: BuiltImage, podman: PodmanService, engine_socket: Path
) -> None:
    probe = "import socket; socket.socket(socket.AF_UNIX).connect('/var/run/docker.sock')"
    mount = f"{engine_socket}:/var/run/docker.sock"
    denied = podman_run(
        podman, "run", "--rm", *OFFLINE, "-v", mount, built_image.name, "python", "-c", probe,
        check=False,
    )  # fmt: skip
    assert denied.returncode != 0 and "PermissionError" in denied.stderr
    allowed = podman_run(
        podman, "run", "--rm", *OFFLINE, "--group-add", str(SOCKET_GID), "-v", mount,
        built_image.name, "python", "-c", probe,
    )  # fmt: skip
    assert allowed.returncode == 0


async def test_the_bot_in_the_image_turns_healthy_lists_and_restarts_containers(
    built_image: BuiltImage,
    podman: PodmanService,
    engine_socket: Path,
    busybox: tuple[str, docker.DockerClient],
    tmp_path: Path,
) -> None:
    target, client = busybox
    name = f"hwbot-{secrets.token_hex(4)}"
    async with serve(TOKEN) as sandbox, SandboxClient(sandbox.url) as chat:
        # Half the settings from a mounted file (the owner's, mode 600), half from the environment.
        config = tmp_path / "hostwarden.yaml"
        telegram = {"token": TOKEN, "api_base": sandbox.url, "admin_chat_ids": [ADMIN_ID],
                    "alert_every_seconds": 0.5}  # fmt: skip
        config.write_text(yaml.safe_dump({"telegram": telegram}))
        config.chmod(0o600)
        os.chown(config, int(UID), int(UID))
        environment = {
            "HOSTWARDEN_CONFIG": "/config/hostwarden.yaml",
            "HOSTWARDEN_ACCESS__ALLOWED_TELEGRAM_IDS": f"[{USER_ID}]",
            "HOSTWARDEN_ACCESS__ADMIN_TELEGRAM_IDS": f"[{ADMIN_ID}]",
            "HOSTWARDEN_TOTP__ENCRYPTION_KEY": generate_key(),
        }
        env_args = [arg for key, value in environment.items() for arg in ("-e", f"{key}={value}")]
        for user_id in (USER_ID, ADMIN_ID):
            await chat.register(user_id, first_name="Known")

        started = time.monotonic()
        await podman_async(
            podman, "run", "--detach", "--name", name, "--network", "host", *HARDENING,
            "--group-add", str(SOCKET_GID), "-v", f"{engine_socket}:/var/run/docker.sock",
            "-v", f"{config}:/config/hostwarden.yaml:ro", *env_args, built_image.name,
        )  # fmt: skip
        try:
            await _wait_for_poller(sandbox, podman, name)
            cold_start = time.monotonic() - started
            whoami = await podman_async(podman, "exec", name, "id", "-u")
            assert whoami.stdout.strip() == UID

            assert await _wait_healthy(podman, name) == "healthy"

            # Listing, as a user: the bot reads the engine through the mounted socket.
            [listing] = await chat.converse(USER_ID, "/containers", wait=WAIT)
            assert target in listing["text"] and "running" in listing["text"]

            # An admin with a second factor, made with the CLI inside the container.
            enrol = await podman_async(
                podman, "exec", name, "sh", "-c",
                f"hostwarden users add admin --admin --telegram-id {ADMIN_ID} "
                "&& hostwarden totp enroll admin",
            )  # fmt: skip
            match = re.search(r"Secret for manual entry: (\S+)", enrol.stdout)
            assert match is not None, enrol.stdout
            totp = pyotp.TOTP(match.group(1))
            # Codes are good for one step either side, once each: confirm with this step's code
            # and answer the 2FA prompt with the next one's, so that crossing a step boundary
            # in between changes nothing.
            step = int(time.time()) // 30
            await podman_async(podman, "exec", name, "hostwarden", "totp", "verify", "admin",
                               totp.at(step * 30))  # fmt: skip
            await _until(chat, 0, ADMIN_ID, _has("Second factor enrolled"))

            # Restarting, as the admin: 2FA, then the confirmation button.
            before = _started_at(client, target)
            seq = await chat.say(ADMIN_ID, f"/restart {target}")
            await _until(chat, seq, ADMIN_ID, _has("2FA code"))
            seq = await chat.say(ADMIN_ID, totp.at((step + 1) * 30))
            question = await _until(chat, seq, ADMIN_ID, lambda e: bool(e.get("buttons")))
            assert target in question["text"]
            ok = question["buttons"][0][0].split("|", 1)[1]
            assert ok.startswith("ok:")
            seq = await chat.press(ADMIN_ID, question["message_id"], ok)
            done = await _until(chat, seq, ADMIN_ID, _has("is now running"))
            assert target in done["text"]
            after = client.containers.get(target)
            assert after.status == "running" and _started_at(client, target) > before

            audit = await podman_async(
                podman, "exec", name, "hostwarden", "audit", "tail", "--kind", "container.action",
                "--json",
            )  # fmt: skip
            [action] = [json.loads(line) for line in audit.stdout.splitlines()]
            assert (action["verb"], action["container"]) == ("restart", target)
            assert action["actor"] == f"tg:{ADMIN_ID}"
            record(cold_start_seconds=round(cold_start, 1))
        finally:
            logs = await podman_async(podman, "logs", name, check=False)
            await podman_async(podman, "rm", "--force", "--volumes", name, check=False)
    assert "Traceback" not in logs.stdout + logs.stderr
