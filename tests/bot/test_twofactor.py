"""2FA in the bot: prompt, wrong code alert, replay where the user was, expiry, enrolment by QR."""

from __future__ import annotations

import pyotp

from hostwarden.bot.challenge import TwoFactor
from tests.bot.conftest import ADMIN_ID, Harness


async def test_a_critical_action_asks_for_a_code_then_runs(harness: Harness) -> None:
    secret = await harness.enrol(ADMIN_ID)
    [prompt] = await harness.say(ADMIN_ID, "/logs web 5")
    assert "2FA code" in prompt

    # A wrong code: refused, the admin chat hears of it, the challenge stays.
    assert await harness.say(ADMIN_ID, "000000") == ["❌ Wrong code. Try again, or /cancel."]
    alerts = await harness.admin_chat()
    assert any("Wrong 2FA code" in a for a in alerts)

    # The right code: accepted, the code message deleted, and /logs runs where the user was
    # (the engine in these tests is absent, so the handler's answer is the clear engine error).
    replies = await harness.say(ADMIN_ID, harness.code(secret))
    assert replies[0] == "✅ Code accepted."
    assert "container engine" in replies[1] and "unreachable" in replies[1]
    assert harness.session.named("DeleteMessage")

    # Fresh 2FA now covers the next critical action without asking again.
    [again] = await harness.say(ADMIN_ID, "/logs web")
    assert "unreachable" in again


async def test_a_challenge_expires_by_the_clock_and_nothing_else(harness: Harness) -> None:
    secret = await harness.enrol(ADMIN_ID)
    await harness.say(ADMIN_ID, "/container web")
    harness.core.clock.advance(60)  # type: ignore[attr-defined]
    await harness.core.maintain()  # housekeeping must not wipe a pending challenge
    state = harness.app.dispatcher.fsm.resolve_context(harness.app.bot, ADMIN_ID, ADMIN_ID)
    assert await state.get_state() == TwoFactor.awaiting_code.state

    harness.clock.advance(61)  # past the 120 s deadline
    [expired] = await harness.say(ADMIN_ID, harness.code(secret))
    assert "expired" in expired
    assert await state.get_state() is None


async def test_cancel_ends_a_challenge(harness: Harness) -> None:
    await harness.enrol(ADMIN_ID)
    await harness.say(ADMIN_ID, "/restart web")
    assert await harness.say(ADMIN_ID, "/cancel") == ["Cancelled."]
    [plain] = await harness.say(ADMIN_ID, "123456")
    assert "not something I know" in plain


async def test_enrolment_sends_a_protected_spoiler_qr_that_deletes_itself(harness: Harness) -> None:
    await harness.say(ADMIN_ID, "/enroll2fa")
    [photo] = harness.session.named("SendPhoto")
    assert photo.protect_content is True and photo.has_spoiler is True
    [secret_message] = harness.session.texts(ADMIN_ID)
    secret = secret_message.split("<code>")[1].split("</code>")[0]
    assert len(secret) == 32

    assert await harness.app.flush_deletions() == 0
    harness.clock.advance(60)
    assert await harness.app.flush_deletions() == 2
    assert len(harness.session.named("DeleteMessage")) == 2

    # A wrong first code leaves the enrolment pending; the right one finishes it.
    [wrong] = await harness.say(ADMIN_ID, "999999")
    assert "not accepted" in wrong
    harness.clock.advance(30)
    [done] = await harness.say(ADMIN_ID, pyotp.TOTP(secret).at(harness.clock.now()))
    assert "Recovery codes" in done and done.count("<code>") == 10
    assert await harness.core.totp.is_enrolled(await harness.user(ADMIN_ID))


async def test_re_enrolment_needs_a_current_code(harness: Harness) -> None:
    secret = await harness.enrol(ADMIN_ID)
    [refused] = await harness.say(ADMIN_ID, "/enroll2fa")
    assert "already enrolled" in refused
    assert not harness.session.named("SendPhoto")
    await harness.say(ADMIN_ID, f"/enroll2fa {harness.code(secret)}")
    assert harness.session.named("SendPhoto")


async def test_a_cancelled_re_enrolment_keeps_the_old_factor(harness: Harness) -> None:
    secret = await harness.enrol(ADMIN_ID)
    await harness.say(ADMIN_ID, f"/enroll2fa {harness.code(secret)}")
    await harness.say(ADMIN_ID, "/cancel")
    # Someone holding the admin's Telegram account cannot now enrol without a code.
    [refused] = await harness.say(ADMIN_ID, "/enroll2fa")
    assert "already enrolled" in refused
    assert await harness.core.totp.is_enrolled(await harness.user(ADMIN_ID))
    # Finishing a re-enrolment swaps the factor.
    harness.clock.advance(30)
    await harness.say(ADMIN_ID, f"/enroll2fa {harness.code(secret)}")
    [key] = [t for t in harness.session.texts(ADMIN_ID) if "key by hand" in t]
    new_secret = key.split("<code>")[1].split("</code>")[0]
    harness.clock.advance(30)
    [done] = await harness.say(ADMIN_ID, harness.code(new_secret))
    assert "Recovery codes" in done
