"""Starting, stopping and restarting a container: the one implementation every front end calls.

The bot (after its confirmation press) and the web console (after its confirmation page) both
call :func:`manage_container`, which asks the engine and records one ``container.action`` audit
event naming who acted, through which channel, on which container of which host, and how it
ended. Access is decided before, by the guard, for the policy action :data:`MANAGE`.
"""

from __future__ import annotations

import socket
from typing import Final

from hostwarden.containers.engine import ContainerSummary, check_container_name
from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.errors import HostwardenError, InvalidInput
from hostwarden.fleet.target import ContainerManager

#: The policy action that guards every verb below (admin, fresh 2FA).
MANAGE: Final = "containers.manage"
#: What can be done to a container, as the engine's method names (and the audit's ``verb``).
VERBS: Final = ("start", "stop", "restart")
#: How each verb reads in a question and in a button.
LABELS: Final = {"start": "Start", "stop": "Stop", "restart": "Restart"}


def host_label(monitor: object | None = None) -> str:
    """The name of this host for questions and audit events.

    ``monitor.host_label`` (the monitor settings' label) when it is set, else the host name.
    """
    label = getattr(monitor, "host_label", None)
    if isinstance(label, str) and label.strip():
        return label.strip()
    return socket.gethostname() or "this host"


async def manage_container(
    engine: ContainerManager,
    audit: AuditTrail,
    *,
    verb: str,
    container: str,
    actor: str,
    channel: str,
    host: str,
) -> ContainerSummary:
    """Run ``verb`` on ``container`` and audit it; the container's state afterwards.

    ``actor`` is the audit reference of who asked (``tg:ID``, ``user:NAME``) and ``channel`` the
    front end (``telegram``, ``web``). A failure is audited with ``outcome=failed`` and the
    error's code, then raised again (a :class:`~hostwarden.errors.HostwardenError`).
    """
    if verb not in VERBS:
        raise InvalidInput(f"unknown container action {verb[:20]!r}")
    check_container_name(container)
    act = {"start": engine.start, "stop": engine.stop, "restart": engine.restart}[verb]
    detail = {"verb": verb, "container": container, "channel": channel, "host": host}
    try:
        summary = await act(container)
    except HostwardenError as exc:
        await audit.record(
            Kind.CONTAINER_ACTION, actor=actor, outcome="failed", error=exc.code, **detail
        )
        raise
    await audit.record(Kind.CONTAINER_ACTION, actor=actor, outcome=summary.state, **detail)
    return summary
