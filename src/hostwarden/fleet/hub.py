"""The hub's own host as a fleet of one, and the names users see for hosts.

A hub that knows no agents still acts through a :class:`~hostwarden.fleet.target.Fleet`: this
machine alone, as a :class:`~hostwarden.fleet.target.LocalHost` named after ``monitor.host_label``
(lowercased, anything but ``a-z0-9`` made ``-``), so ``/status @NAME`` works there too.
"""

from __future__ import annotations

import re

from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.registry import RegistryChecker
from hostwarden.errors import InvalidInput
from hostwarden.fleet.target import Fleet, LocalHost, ManagedHost, check_host_name
from hostwarden.host.metrics import HostReader

FALLBACK_NAME = "local"
_OTHER = re.compile(r"[^a-z0-9]+")


def host_name_from_label(label: str) -> str:
    """A valid host name for ``label`` (``Prod DB.1`` -> ``prod-db-1``; ``local`` if none)."""
    name = _OTHER.sub("-", label.strip().lower())[:32].strip("-")
    try:
        return check_host_name(name)
    except InvalidInput:
        return FALLBACK_NAME


def local_fleet(
    label: str, reader: HostReader, engine: ContainerEngine, registry: RegistryChecker
) -> Fleet:
    """This machine alone, named from ``label``."""
    return Fleet([LocalHost(host_name_from_label(label), reader, engine, registry)])


def display_name(fleet: Fleet, host: ManagedHost, label: str) -> str:
    """What views and questions call ``host``: ``label`` for the default host, else its name.

    So a hub of one host reads as it always did (``monitor.host_label``), and every other host
    by the name users type after ``@``.
    """
    return label if label and host.name == fleet.default else host.name
