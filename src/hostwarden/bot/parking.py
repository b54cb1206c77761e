"""Updates parked behind a 2FA prompt, kept in the store until the code comes or time runs out.

The parked update is the request that needed a code (``/restart web``, a button press), never
the code itself; it still names a person and a chat, so it is stored encrypted with the TOTP key
(Fernet) and bound to its owner, and it expires with the prompt. The FSM data holds only the
entry's nonce. Taking it is one atomic store step: whichever hub replica gets the valid code
replays the update, once.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime
from typing import Any

from hostwarden.core.clock import Clock
from hostwarden.core.secretbox import SecretBox
from hostwarden.errors import HostwardenError
from hostwarden.storage.pending import Pending, PendingStore

LOG = logging.getLogger("hostwarden.bot")
KIND = "parked"


class ParkedUpdates:
    """Parks an update's JSON for one Telegram user until a deadline; hands it back once."""

    def __init__(self, pending: PendingStore, clock: Clock, box: SecretBox) -> None:
        self._pending = pending
        self._clock = clock
        self._box = box

    async def park(self, user_id: int, update: dict[str, Any], deadline: datetime) -> str | None:
        """Store ``update`` until ``deadline``; the nonce to take it with, or ``None``."""
        try:
            sealed = self._box.encrypt(f"{user_id}:" + json.dumps(update, separators=(",", ":")))
        except HostwardenError:  # no key configured: the user repeats the command
            LOG.info("update not parked: no TOTP encryption key")
            return None
        now = self._clock.now()
        nonce = secrets.token_urlsafe(16)
        if await self._pending.create(Pending(KIND, nonce, str(user_id), sealed, deadline), now):
            return nonce
        return None

    async def take(self, user_id: int, nonce: str) -> dict[str, Any] | None:
        """The update parked under ``nonce`` for ``user_id``, once, while it is live."""
        entry = await self._pending.take(KIND, nonce, str(user_id), self._clock.now())
        if entry is None:
            return None
        try:
            owner, _, text = self._box.decrypt(entry.payload).partition(":")
            update = json.loads(text)
        except (HostwardenError, ValueError):
            LOG.warning("a parked update could not be read; the user repeats the command")
            return None
        if owner != str(user_id) or not isinstance(update, dict):
            return None
        return update
