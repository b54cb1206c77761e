"""TOTP: RFC 6238 vectors, replay refusal, counting, enrolment and recovery codes."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pyotp
import pytest

from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import User
from hostwarden.core.qr import qr_png, qr_text
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import TotpSettings
from hostwarden.core.totp import TotpOutcome, match_step
from hostwarden.errors import Conflict, InvalidInput, NotFound
from hostwarden.storage.base import AuditQuery

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("unix", "code"), RFC6238_SHA1)
def test_rfc6238_appendix_b_vectors(unix: int, code: str) -> None:
    settings = TotpSettings(digits=8, period=30, valid_window=0)
    when = datetime.fromtimestamp(unix, UTC)
    assert match_step(RFC_SECRET, code, when, settings) == unix // 30
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    assert match_step(RFC_SECRET, wrong, when, settings) is None


def test_skew_is_one_step_either_way() -> None:
    settings = TotpSettings()
    when = datetime(2026, 1, 1, tzinfo=UTC)
    totp = pyotp.TOTP(RFC_SECRET)
    step = totp.timecode(when)
    assert match_step(RFC_SECRET, totp.at(when, counter_offset=-1), when, settings) == step - 1
    assert match_step(RFC_SECRET, totp.at(when, counter_offset=1), when, settings) == step + 1
    assert match_step(RFC_SECRET, totp.at(when, counter_offset=2), when, settings) is None


async def enrolled(core: AccessCore, clock: ManualClock) -> tuple[User, pyotp.TOTP, list[str]]:
    user = await core.accounts.register("dana", "correct horse battery")
    enrolment = await core.totp.begin_enrolment(user)
    assert len(base64.b32decode(enrolment.secret)) >= 20  # >= 160 bits
    assert enrolment.uri.startswith("otpauth://totp/hostwarden:dana?secret=")
    totp = pyotp.TOTP(enrolment.secret)
    codes = await core.totp.confirm_enrolment(user, totp.at(clock.now()))
    clock.advance(30)
    return user, totp, codes


async def test_secret_is_encrypted_at_rest(core: AccessCore, clock: ManualClock) -> None:
    user, totp, _ = await enrolled(core, clock)
    factor = await core.store.totp.get_factor(user.id)
    assert factor is not None and factor.confirmed
    assert totp.secret not in factor.secret_encrypted


async def test_a_code_is_accepted_once(core: AccessCore, clock: ManualClock) -> None:
    user, totp, _ = await enrolled(core, clock)
    code = totp.at(clock.now())
    assert await core.totp.verify(user, code) is TotpOutcome.ACCEPTED
    assert await core.totp.verify(user, code) is TotpOutcome.REPLAYED
    replays = await core.audit.query(AuditQuery(kind=Kind.TOTP_REPLAYED))
    assert len(replays) == 1


async def test_failed_codes_block_then_everything_is_refused(
    core: AccessCore, clock: ManualClock
) -> None:
    user, totp, _ = await enrolled(core, clock)
    good = totp.at(clock.now())
    bad = "999999" if good != "999999" else "888888"
    outcomes = [await core.totp.verify(user, bad) for _ in range(3)]
    assert outcomes == [TotpOutcome.INVALID, TotpOutcome.INVALID, TotpOutcome.BLOCKED]
    assert await core.totp.verify(user, good) is TotpOutcome.BLOCKED
    clock.advance(3601)
    assert await core.totp.verify(user, totp.at(clock.now())) is TotpOutcome.ACCEPTED


async def test_malformed_codes_count_as_wrong(core: AccessCore, clock: ManualClock) -> None:
    user, _, _ = await enrolled(core, clock)
    assert await core.totp.verify(user, "<b>12</b>") is TotpOutcome.INVALID


async def test_reenrolment_needs_a_current_code(core: AccessCore, clock: ManualClock) -> None:
    user, totp, _ = await enrolled(core, clock)
    with pytest.raises(Conflict):
        await core.totp.begin_enrolment(user)
    with pytest.raises(InvalidInput):
        await core.totp.begin_enrolment(user, "000000" if totp.now() != "000000" else "111111")
    fresh = await core.totp.begin_enrolment(user, totp.at(clock.now()))
    assert fresh.secret != totp.secret


async def test_an_abandoned_reenrolment_keeps_the_old_factor(
    core: AccessCore, clock: ManualClock
) -> None:
    user, totp, _ = await enrolled(core, clock)
    fresh = await core.totp.begin_enrolment(user, totp.at(clock.now()))
    assert fresh.sealed is not None
    # Walking away leaves 2FA as it was: enrolled, the old app still works, and a new
    # enrolment still needs a current code.
    clock.advance(30)
    assert await core.totp.is_enrolled(user)
    assert await core.totp.verify(user, totp.at(clock.now())) is TotpOutcome.ACCEPTED
    with pytest.raises(Conflict):
        await core.totp.begin_enrolment(user)
    # Without the sealed secret nothing is pending; with a forged one, nothing either.
    new = pyotp.TOTP(fresh.secret)
    with pytest.raises(NotFound):
        await core.totp.confirm_enrolment(user, new.at(clock.now()))
    with pytest.raises(NotFound):
        await core.totp.confirm_enrolment(user, new.at(clock.now()), fresh.uri)
    # Confirmed with the sealed secret, the new factor replaces the old one.
    clock.advance(30)
    assert await core.totp.confirm_enrolment(user, new.at(clock.now()), fresh.sealed)
    clock.advance(30)
    assert await core.totp.verify(user, totp.at(clock.now())) is TotpOutcome.INVALID
    assert await core.totp.verify(user, new.at(clock.now())) is TotpOutcome.ACCEPTED


async def test_admin_reset_allows_enrolment_again(core: AccessCore, clock: ManualClock) -> None:
    user, _, _ = await enrolled(core, clock)
    await core.totp.reset(user, actor="user:admin")
    assert not await core.totp.is_enrolled(user)
    await core.totp.begin_enrolment(user)
    texts = [m.text for m in await core.store.outbox.due(clock.now(), 50)]
    assert any("Second factor reset" in t for t in texts)
    assert any("Second factor enrolled" in t for t in texts)


async def test_recovery_codes_are_single_use_and_stored_hashed(
    core: AccessCore, clock: ManualClock
) -> None:
    user, _, codes = await enrolled(core, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = core.store.totp._recovery[user.id]  # type: ignore[attr-defined]
    plain_digest = hashlib.sha256(codes[0].encode()).hexdigest()
    assert codes[0] not in stored and plain_digest not in stored and len(stored) == 10
    assert await core.totp.use_recovery_code(user, codes[0]) is TotpOutcome.ACCEPTED
    assert await core.totp.use_recovery_code(user, codes[0]) is TotpOutcome.INVALID
    assert await core.totp.use_recovery_code(user, codes[1].upper()) is TotpOutcome.ACCEPTED


async def test_confirmation_needs_a_valid_code(core: AccessCore, clock: ManualClock) -> None:
    user = await core.accounts.register("erin", "correct horse battery")
    enrolment = await core.totp.begin_enrolment(user)
    good = pyotp.TOTP(enrolment.secret).at(clock.now())
    with pytest.raises(InvalidInput):
        await core.totp.confirm_enrolment(user, "000000" if good != "000000" else "111111")
    assert not await core.totp.is_enrolled(user)


def test_qr_png_and_terminal_text() -> None:
    uri = pyotp.TOTP(RFC_SECRET).provisioning_uri(name="x", issuer_name="hostwarden")
    assert qr_png(uri).startswith(b"\x89PNG")
    text = qr_text(uri)
    assert len(text.splitlines()) > 10
