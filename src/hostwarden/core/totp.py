"""TOTP second factor: random encrypted secrets, replay-proof verification, recovery codes.

A code is accepted at most once: the matched time step is claimed in the store under a unique
constraint, so two processes cannot both accept it. Failed codes count toward a block.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import pyotp

from hostwarden.core.alerts import Alert, AlertOutbox
from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import Clock
from hostwarden.core.identity import User
from hostwarden.core.lockout import Lockout
from hostwarden.core.secretbox import SecretBox
from hostwarden.core.settings import TotpSettings
from hostwarden.errors import Conflict, HostwardenError, InvalidInput, NotFound
from hostwarden.storage.base import TotpFactor, TotpStore

_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class TotpOutcome(StrEnum):
    ACCEPTED = "accepted"
    INVALID = "invalid"
    REPLAYED = "replayed"
    BLOCKED = "blocked"
    NOT_ENROLLED = "not_enrolled"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A pending enrolment: show ``uri`` as a QR code and ``secret`` for manual entry.

    ``sealed`` is set when a confirmed factor is being replaced: the new secret, encrypted and
    bound to the user, to hand back to :meth:`TotpService.confirm_enrolment`. The confirmed
    factor stays in force until then, so an abandoned re-enrolment leaves 2FA as it was.
    """

    secret: str
    uri: str
    sealed: str | None = None


def match_step(secret: str, code: str, when: datetime, settings: TotpSettings) -> int | None:
    """The time step ``code`` belongs to within the allowed skew, or ``None``."""
    totp = pyotp.TOTP(secret, digits=settings.digits, interval=settings.period)
    base = totp.timecode(when)
    found: int | None = None
    # Compare every candidate so that timing does not tell which step matched.
    for offset in range(-settings.valid_window, settings.valid_window + 1):
        expected = totp.at(when, counter_offset=offset)
        if hmac.compare_digest(expected.encode(), code.encode()) and found is None:
            found = base + offset
    return found


def hash_recovery_code(box: SecretBox, user_id: int, code: str) -> str:
    """How recovery codes are stored: keyed hashes, never in clear."""
    normalised = code.replace("-", "").replace(" ", "").lower()
    return box.mac(f"recovery:{user_id}:{normalised}")


class TotpService:
    """Enrolment, verification and reset of TOTP factors."""

    def __init__(
        self,
        store: TotpStore,
        box: SecretBox,
        lockout: Lockout,
        alerts: AlertOutbox,
        audit: AuditTrail,
        clock: Clock,
        settings: TotpSettings,
    ) -> None:
        self._store = store
        self._box = box
        self._lockout = lockout
        self._alerts = alerts
        self._audit = audit
        self._clock = clock
        self._settings = settings

    async def is_enrolled(self, user: User) -> bool:
        """Whether ``user`` has a confirmed factor."""
        factor = await self._store.get_factor(user.id)
        return factor is not None and factor.confirmed

    async def begin_enrolment(self, user: User, current_code: str | None = None) -> Enrolment:
        """Start (re-)enrolment. Replacing a confirmed factor needs a valid current code."""
        if await self.is_enrolled(user):
            if current_code is None:
                raise Conflict(
                    "a second factor is already enrolled: give a current code, "
                    "or ask an admin to reset it"
                )
            if await self.verify(user, current_code) is not TotpOutcome.ACCEPTED:
                raise InvalidInput("the current code was not accepted")
            replacing = True
        else:
            replacing = False
        secret = pyotp.random_base32(length=32)  # 160 bits
        sealed: str | None = None
        if replacing:
            sealed = self._box.encrypt(f"{user.id}:{secret}")
        else:
            factor = TotpFactor(user.id, self._box.encrypt(secret), False, self._clock.now())
            await self._store.put_factor(factor, user.id)
        await self._audit.record(Kind.TOTP_ENROLMENT_STARTED, subject=f"user:{user.username}")
        uri = pyotp.TOTP(
            secret, digits=self._settings.digits, interval=self._settings.period
        ).provisioning_uri(name=user.username, issuer_name=self._settings.issuer)
        return Enrolment(secret, uri, sealed)

    async def confirm_enrolment(
        self, user: User, code: str, sealed: str | None = None
    ) -> list[str]:
        """Confirm a pending enrolment with a first valid code; returns the recovery codes.

        ``sealed`` is :attr:`Enrolment.sealed` when a confirmed factor is being replaced.
        """
        factor = await self._store.get_factor(user.id)
        if sealed is not None:
            factor = self._unseal(user, sealed)
        if factor is None or factor.confirmed:
            raise NotFound("no enrolment is pending; start one first")
        outcome = await self._check(user, factor, code)
        if outcome is not TotpOutcome.ACCEPTED:
            raise InvalidInput("that code was not accepted; enrolment is still pending")
        await self._store.put_factor(
            TotpFactor(user.id, factor.secret_encrypted, True, factor.created_at), user.id
        )
        codes = await self.new_recovery_codes(user)
        await self._audit.record(Kind.TOTP_ENROLLED, subject=f"user:{user.username}")
        await self._alerts.raise_alert(
            Alert("factor", "Second factor enrolled", self._clock.now(), username=user.username)
        )
        return codes

    def _unseal(self, user: User, sealed: str) -> TotpFactor | None:
        try:
            owner, _, secret = self._box.decrypt(sealed).partition(":")
        except HostwardenError:
            return None
        if owner != str(user.id) or not secret:
            return None
        return TotpFactor(user.id, self._box.encrypt(secret), False, self._clock.now())

    async def new_recovery_codes(self, user: User) -> list[str]:
        """Replace the user's recovery codes with fresh ones, shown only this once."""
        codes = [
            "-".join(
                "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(5)) for _ in range(2)
            )
            for _ in range(self._settings.recovery_codes)
        ]
        await self._store.set_recovery(
            user.id, [hash_recovery_code(self._box, user.id, c) for c in codes]
        )
        return codes

    async def verify(self, user: User, code: str) -> TotpOutcome:
        """Check a code for a confirmed factor, counting failures and refusing replays."""
        factor = await self._store.get_factor(user.id)
        if factor is None or not factor.confirmed:
            return TotpOutcome.NOT_ENROLLED
        return await self._check(user, factor, code)

    async def use_recovery_code(self, user: User, code: str) -> TotpOutcome:
        """Accept a recovery code once; wrong ones count like wrong TOTP codes."""
        key = f"totp:{user.id}"
        if await self._lockout.blocked((key,)):
            await self._audit.record(Kind.TOTP_REFUSED, subject=f"user:{user.username}")
            return TotpOutcome.BLOCKED
        if await self._use_recovery(user.id, code):
            await self._lockout.clear(key)
            await self._audit.record(Kind.RECOVERY_USED, subject=f"user:{user.username}")
            await self._alerts.raise_alert(
                Alert("factor", "Recovery code used", self._clock.now(), username=user.username)
            )
            return TotpOutcome.ACCEPTED
        return await self._fail(user, key, Kind.TOTP_FAILED, "Wrong recovery code")

    async def _use_recovery(self, user_id: int, code: str) -> bool:
        """Use ``code`` once; it may be hashed under the current key or a previous one."""
        normalised = code.replace("-", "").replace(" ", "").lower()
        for digest in self._box.macs(f"recovery:{user_id}:{normalised}"):
            if await self._store.use_recovery(user_id, digest):
                return True
        return False

    async def reencrypt(self, user_ids: list[int]) -> int:
        """Re-encrypt these users' stored secrets under the current key (``keys rotate``).

        Each factor keeps its state (confirmed, created); only its ciphertext changes. Returns
        how many were re-encrypted. Run it with hostwarden stopped: a factor replaced meanwhile
        by a new enrolment would be overwritten with the old one.
        """
        count = 0
        for user_id in user_ids:
            factor = await self._store.get_factor(user_id)
            if factor is None:
                continue
            fresh = dataclasses.replace(
                factor, secret_encrypted=self._box.rotate(factor.secret_encrypted)
            )
            await self._store.put_factor(fresh, user_id)
            count += 1
        return count

    async def reset(self, user: User, actor: str) -> None:
        """Remove the user's factor and recovery codes (an admin's decision)."""
        await self._store.put_factor(None, user.id)
        await self._lockout.clear(f"totp:{user.id}")
        await self._audit.record(Kind.TOTP_RESET, actor=actor, subject=f"user:{user.username}")
        await self._alerts.raise_alert(
            Alert("factor", "Second factor reset", self._clock.now(), username=user.username)
        )

    async def _check(self, user: User, factor: TotpFactor, code: str) -> TotpOutcome:
        key = f"totp:{user.id}"
        if await self._lockout.blocked((key,)):
            await self._audit.record(Kind.TOTP_REFUSED, subject=f"user:{user.username}")
            return TotpOutcome.BLOCKED
        now = self._clock.now()
        code = code.strip().replace(" ", "")
        step = None
        if code.isdigit() and len(code) == self._settings.digits:
            step = match_step(self._box.decrypt(factor.secret_encrypted), code, now, self._settings)
        if step is None:
            return await self._fail(user, key, Kind.TOTP_FAILED, "Wrong 2FA code")
        if not await self._store.claim_step(user.id, step, now):
            return await self._fail(user, key, Kind.TOTP_REPLAYED, "Replayed 2FA code")
        await self._lockout.clear(key)
        await self._audit.record(Kind.TOTP_SUCCEEDED, subject=f"user:{user.username}")
        return TotpOutcome.ACCEPTED

    async def _fail(self, user: User, key: str, kind: str, title: str) -> TotpOutcome:
        hit = await self._lockout.hit(key, self._lockout.totp_rule)
        subject = f"user:{user.username}"
        if not hit.counted:
            await self._audit.record(Kind.TOTP_REFUSED, subject=subject)
            return TotpOutcome.BLOCKED
        await self._audit.record(kind, subject=subject, attempt=hit.count)
        limit = self._lockout.totp_rule.limit or 0
        await self._alerts.raise_alert(
            Alert(
                "totp",
                title + (" - 2FA blocked" if hit.newly_blocked else ""),
                self._clock.now(),
                username=user.username,
                user_id=user.telegram_ids[0] if user.telegram_ids else None,
                attempt=hit.count,
                attempts_left=max(limit - hit.count, 0),
            )
        )
        if hit.newly_blocked:
            return TotpOutcome.BLOCKED
        return TotpOutcome.REPLAYED if kind == Kind.TOTP_REPLAYED else TotpOutcome.INVALID
