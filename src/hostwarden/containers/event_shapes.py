"""Engine events, Docker's and podman's, read into one small record.

Docker says ``health_status: unhealthy`` in the action and sends an ``oom`` event before the
``die``; podman (4.x, through its Docker-compatible API) sends a bare ``health_status`` (newer
versions add a ``health_status`` attribute), no ``oom`` event, and ``exitCode`` /
``containerExitCode`` attributes. Both put the container's labels among the attributes. What an
event leaves out (podman's health, an OOM kill) the follower asks the engine for
(:meth:`~hostwarden.containers.engine.ContainerEngine.runtime_state`) and fills in here.

Every text taken from an event is attacker-influenced (whoever may create containers names
them): it is cut and stripped of control characters here, and escaped where it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MUTE_LABEL = "hostwarden.alerts"
_OFF = frozenset({"false", "0", "no", "off"})
_TEXT_LIMIT = 128
# The actions the rules look at (podman's "init" tells its restarts from Docker's); exec_*,
# attach, cleanup and the rest are dropped at once.
ACTIONS = frozenset(
    {"init", "start", "die", "kill", "stop", "oom", "restart", "health_status", "destroy", "remove"}
)


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """One container event, engine differences removed."""

    action: str
    container_id: str
    name: str
    image: str = "?"
    exit_code: int | None = None
    health: str | None = None  # for health_status: healthy, unhealthy, starting
    signal: str | None = None  # for kill
    oom_reported: bool = False  # the engine says the out-of-memory killer ended it
    memory_limit: int | None = None  # bytes, 0 = none, None = not asked
    muted_by_label: bool = False


def clean_text(value: object, limit: int = _TEXT_LIMIT) -> str:
    """``value`` as printable text of at most ``limit`` characters."""
    text = "".join(c for c in str(value) if c.isprintable())
    return text[:limit]


def _int(value: object) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if -(2**31) <= number < 2**32 else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _attribute(attributes: Mapping[str, Any], name: str) -> str | None:
    """An attribute by name, however the engine spells it (``oomKilled``, ``health_status``)."""
    for key, value in attributes.items():
        if str(key).lower().replace("_", "") == name:
            return str(value)
    return None


def parse_event(raw: Mapping[str, Any]) -> ContainerEvent | None:
    """The container event in ``raw`` (a decoded ``/events`` line), or ``None`` if not one we use.

    Handles Docker's shape (``Type``, ``Action``, ``Actor.Attributes``), podman's
    (the same keys, different attributes) and the old one (``status``, ``id``, ``from``).
    """
    if str(raw.get("Type") or "container") != "container":
        return None
    action_text = str(raw.get("Action") or raw.get("status") or "")
    action, _, argument = action_text.partition(":")
    action = action.strip()
    if action not in ACTIONS:
        return None
    actor = _mapping(raw.get("Actor"))
    attributes = _mapping(actor.get("Attributes"))
    container_id = clean_text(actor.get("ID") or raw.get("id") or "", 64)
    if not container_id:
        return None
    name = clean_text(attributes.get("name") or container_id[:12]).lstrip("/")
    health = None
    if action == "health_status":
        health = clean_text(argument.strip() or _attribute(attributes, "healthstatus") or "", 32)
        health = health or None
    exit_code = None
    if action == "die":
        exit_code = _int(attributes.get("exitCode", attributes.get("containerExitCode", "")))
    signal = clean_text(attributes["signal"], 16) if "signal" in attributes else None
    return ContainerEvent(
        action=action,
        container_id=container_id,
        name=name,
        image=clean_text(attributes.get("image") or raw.get("from") or "?"),
        exit_code=exit_code,
        health=health,
        signal=signal,
        oom_reported=(_attribute(attributes, "oomkilled") or "").lower() == "true",
        muted_by_label=str(attributes.get(MUTE_LABEL, "")).strip().lower() in _OFF,
    )
