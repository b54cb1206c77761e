"""Full identities on admin pages, for admins with a fresh code; audited once per session.

Admins must see whom they unblock or whose session they end, so once an admin has passed a
second factor recently (``sessions.mfa_fresh_seconds``), admin pages show full usernames,
Telegram IDs and addresses instead of masked ones. The first such page of each session (each
session token hash: a step-up rotates it) records one ``identity.revealed`` event. Logs, exports
and Telegram messages stay masked whatever happens here.
"""

from __future__ import annotations

from collections import OrderedDict

from hostwarden.core.audit import Kind
from hostwarden.core.service import AccessCore
from hostwarden.storage.base import AuditQuery
from hostwarden.web.viewer import Viewer

#: Sessions remembered as already audited, per process (older ones are checked in the store).
REMEMBERED = 10_000


class Identities:
    """Decides whether a viewer sees full identities, and audits the first time per session."""

    def __init__(self, core: AccessCore) -> None:
        self._core = core
        self._audited: OrderedDict[str, None] = OrderedDict()

    def may_reveal(self, viewer: Viewer | None) -> bool:
        """Whether ``viewer`` is an admin whose second factor is fresh."""
        return (
            viewer is not None
            and viewer.is_admin
            and self._core.sessions.mfa_fresh(viewer.session.mfa_at)
        )

    async def reveal(self, viewer: Viewer | None, page: str) -> bool:
        """Whether to show ``viewer`` full identities on ``page``; audits the first reveal."""
        if viewer is None or not self.may_reveal(viewer):
            return False
        key = viewer.session.token_hash
        if key in self._audited:
            self._audited.move_to_end(key)
            return True
        self._audited[key] = None  # before any await: a parallel request does not audit twice
        try:
            if not await self._audited_before(viewer):
                await self._core.audit.record(
                    Kind.IDENTITY_REVEALED,
                    actor=viewer.ref,
                    session=viewer.session.handle,
                    page=page[:200],
                )
        except BaseException:
            self._audited.pop(key, None)
            raise
        while len(self._audited) > REMEMBERED:
            self._audited.popitem(last=False)
        return True

    async def _audited_before(self, viewer: Viewer) -> bool:
        """Whether the store already holds this session's event (another process, a restart)."""
        earlier = await self._core.audit.query(
            AuditQuery(
                kind=Kind.IDENTITY_REVEALED,
                actor=viewer.ref,
                since=viewer.session.created_at,
                limit=200,
            )
        )
        return any(event.detail.get("session") == viewer.session.handle for event in earlier)
