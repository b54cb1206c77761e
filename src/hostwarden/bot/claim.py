"""A first run that cannot lock the owner out: a one-time code that makes its sender the admin.

With no admin in the configuration or the store, the bot makes a claim code at start and prints
it on its console and in its log. ``/claim CODE`` from Telegram then makes that user the admin:
once, before the code expires, audited. The gate checks the code before the guard counts the
message (a right code is the credential, and the owner's third message must not block them); a
wrong code goes on to the guard as a stranger's attempt like any other, so guessing ends in a
block. At start the bot also
lifts blocks on Telegram IDs the configuration allows: a block made while the owner was still a
stranger must not keep them out once they are configured.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hostwarden.core.audit import Kind
from hostwarden.core.clock import Clock
from hostwarden.core.identity import Role, User
from hostwarden.core.service import AccessCore
from hostwarden.errors import Conflict, NotFound

LOG = logging.getLogger("hostwarden.bot")
CLAIM_SECONDS = 3600
WELCOME = (
    "✅ You are now this bot's admin. Next: two-factor codes with /enroll2fa "
    "(critical actions need them), then /help."
)
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


@dataclass
class ClaimCode:
    """The one-time code; only its hash is kept, and it is gone once used or expired."""

    digest: bytes | None
    expires: datetime

    @classmethod
    def new(cls, clock: Clock, seconds: int = CLAIM_SECONDS) -> tuple[ClaimCode, str]:
        code = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        return cls(_digest(code), clock.now() + timedelta(seconds=seconds)), code

    def take(self, given: str, now: datetime) -> bool:
        """Whether ``given`` is the code and still valid; a right code is used up."""
        if self.digest is None or now >= self.expires:
            self.digest = None
            return False
        if not hmac.compare_digest(_digest(given), self.digest):
            return False
        self.digest = None
        return True


def _digest(code: str) -> bytes:
    normalised = code.strip().upper().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode("utf-8", "replace")).digest()


async def has_admin(core: AccessCore) -> bool:
    """Whether anyone can administer: a configured admin ID or a stored admin account."""
    if core.settings.access.admin_telegram_ids:
        return True
    return any(user.has_role(Role.ADMIN) for user in await core.store.users.list())


async def open_claim(core: AccessCore) -> ClaimCode | None:
    """A claim code when no admin exists (printed to the console and the log), else ``None``."""
    if await has_admin(core):
        return None
    claim, code = ClaimCode.new(core.clock)
    minutes = CLAIM_SECONDS // 60
    LOG.warning(
        "no admin is configured: send /claim %s to the bot from your Telegram account within "
        "%d minutes to become its admin (single use)",
        code,
        minutes,
    )
    # The console (stderr, apart from the JSON log lines) is where the owner looks first.
    print(
        f"hostwarden: no admin yet. Send /claim {code} to the bot within {minutes} min.",
        file=sys.stderr,
        flush=True,
    )
    return claim


async def make_admin(core: AccessCore, telegram_id: int) -> User:
    """Give ``telegram_id`` the admin role (a new account if it has none); lift its block."""
    user = await core.store.users.by_telegram_id(telegram_id)
    roles = frozenset({Role.ADMIN, Role.USER})
    if user is None:
        user = await core.store.users.create(User(0, f"tg{telegram_id}", (telegram_id,), roles))
    else:
        user = await core.store.users.update(replace(user, roles=user.roles | roles))
    await core.audit.record(
        Kind.ADMIN_CLAIMED, actor=f"tg:{telegram_id}", subject=f"user:{user.username}"
    )
    with contextlib.suppress(NotFound):
        await core.lockout.unblock(f"tg:{telegram_id}", "config")
    return user


async def lift_config_blocks(core: AccessCore) -> int:
    """Lift blocks on the Telegram IDs the configuration allows; returns how many were lifted."""
    access = core.settings.access
    lifted = 0
    for telegram_id in {*access.allowed_telegram_ids, *access.admin_telegram_ids}:
        try:
            await core.lockout.unblock(f"tg:{telegram_id}", "config")
        except (NotFound, Conflict):
            continue
        lifted += 1
    return lifted
