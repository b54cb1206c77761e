"""Which hosts of the fleet a user may act on: ``access.host_grants``, decided by the guard.

A grant names a user by account name or by Telegram ID and lists host names. A user named by no
grant may act on every host (the default, and what a single-host install never changes); a user
named by one or more grants may act on the hosts they list, together, and on no other. The guard
checks the host of every request that names one (:meth:`HostGrants.allows`) after the role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hostwarden.core.identity import User


class HostGrants:
    """``access.host_grants`` read once: keys casefolded, Telegram IDs as their decimal text."""

    def __init__(self, grants: Mapping[str, Sequence[str]] | None = None) -> None:
        self._grants: dict[str, frozenset[str]] = {}
        for key, hosts in (grants or {}).items():
            name = key.strip().casefold()
            self._grants[name] = self._grants.get(name, frozenset()) | frozenset(hosts)

    def hosts_for(self, user: User) -> frozenset[str] | None:
        """The hosts ``user`` may act on; ``None`` means every host."""
        keys = [user.username.casefold(), *(str(tid) for tid in user.telegram_ids)]
        found = [self._grants[key] for key in keys if key in self._grants]
        if not found:
            return None
        return frozenset().union(*found)

    def allows(self, user: User, host: str) -> bool:
        """Whether ``user`` may act on ``host``."""
        hosts = self.hosts_for(user)
        return hosts is None or host in hosts
