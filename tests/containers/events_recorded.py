"""Container events as the engines send them, for the rule tests.

``podman_event`` builds podman 4.3's Docker-compatible shape (recorded from this machine's
``podman system service``: ``containerExitCode`` on every event, ``exitCode`` on ``die``, labels
among the attributes, no ``oom`` event, a bare ``health_status``). ``docker_event`` builds
Docker's (``health_status: unhealthy`` in the action, ``signal`` on ``kill``, an ``oom`` event).
"""

from __future__ import annotations

from typing import Any

CID = "c7530ae162115e69c319da04a49f5644117d315934c110f92ce8edd4738578e9"
PODMAN_IMAGE = "localhost/hostwarden-test-busybox:latest"

# Recorded verbatim from podman 4.3.1 (`sh -c 'exit 1'`).
PODMAN_DIE_EXIT_1: dict[str, Any] = {
    "status": "die",
    "id": CID,
    "from": PODMAN_IMAGE,
    "Type": "container",
    "Action": "die",
    "Actor": {
        "ID": CID,
        "Attributes": {
            "containerExitCode": "1",
            "exitCode": "1",
            "image": PODMAN_IMAGE,
            "name": "exp-exit1",
            "podId": "",
        },
    },
    "scope": "local",
    "time": 1795629552,
    "timeNano": 1795629552113343808,
}


def podman_event(
    action: str, name: str = "web", exit_code: int | None = None, **attributes: str
) -> dict[str, Any]:
    attrs = {"containerExitCode": "0", "image": PODMAN_IMAGE, "name": name, "podId": ""}
    if exit_code is not None:
        attrs.update(containerExitCode=str(exit_code), exitCode=str(exit_code))
    attrs.update(attributes)
    return {
        "status": action,
        "id": CID,
        "from": PODMAN_IMAGE,
        "Type": "container",
        "Action": action,
        "Actor": {"ID": CID, "Attributes": attrs},
        "scope": "local",
        "time": 1795629552,
        "timeNano": 1795629552000000000,
    }


def docker_event(
    action: str, name: str = "web", exit_code: int | None = None, **attributes: str
) -> dict[str, Any]:
    attrs = {"image": "nginx:1.27", "name": name, "com.docker.compose.service": "web"}
    if exit_code is not None:
        attrs["exitCode"] = str(exit_code)
    attrs.update(attributes)
    return {
        "status": action,
        "id": CID,
        "from": "nginx:1.27",
        "Type": "container",
        "Action": action,
        "Actor": {"ID": CID, "Attributes": attrs},
        "scope": "local",
        "time": 1700000000,
        "timeNano": 1700000000000000000,
    }


def podman_run(name: str = "web") -> list[dict[str, Any]]:
    return [podman_event(a, name) for a in ("create", "init", "start")]


def podman_policy_restart(exit_code: int, name: str = "web") -> list[dict[str, Any]]:
    """What podman sends when a restart policy restarts a container that ended."""
    return [
        podman_event("die", name, exit_code),
        podman_event("restart", name),
        podman_event("init", name),
        podman_event("start", name),
    ]


def podman_outside_restart(name: str = "web") -> list[dict[str, Any]]:
    """What podman sends for a restart through its API (not hostwarden's): restart comes first."""
    return [
        podman_event("restart", name),
        podman_event("die", name, 0),
        podman_event("init", name),
        podman_event("start", name),
    ]
