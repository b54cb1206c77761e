"""Password accounts: login, lockout, same answer for every failure, rehash, lock and unlock."""

from __future__ import annotations

import pytest
from passlib.hash import pbkdf2_sha256

from hostwarden.core.accounts import LOGIN_FAILED
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Role, User
from hostwarden.core.service import AccessCore
from hostwarden.errors import Conflict, InvalidInput
from hostwarden.storage.base import AuditQuery

PW = "correct horse battery"


async def count(core: AccessCore, kind: str) -> int:
    return len(await core.audit.query(AuditQuery(kind=kind, limit=1000)))


async def test_login_opens_a_session_and_logout_ends_it(core: AccessCore) -> None:
    await core.accounts.register("frank", PW, frozenset({Role.ADMIN}))
    result = await core.accounts.login("frank", PW, "10.0.0.5", "Firefox")
    assert result.ok and result.session is not None and not result.needs_totp
    token = result.session.token
    assert len(token) >= 43
    assert await core.sessions.validate(token, "10.0.0.5", "Firefox") is not None
    assert await core.accounts.logout(token, "user:frank")
    assert await core.sessions.validate(token, "10.0.0.5", "Firefox") is None
    assert await count(core, Kind.LOGIN_SUCCEEDED) == 1
    assert await count(core, Kind.LOGOUT) == 1


async def test_every_failure_gives_the_same_answer(core: AccessCore) -> None:
    await core.accounts.register("gina", PW)
    await core.accounts.lock("gina", "user:admin")
    answers = {
        (await core.accounts.login("nobody", PW)).message,
        (await core.accounts.login("gina", "wrong password")).message,
        (await core.accounts.login("gina", PW)).message,  # locked
        (await core.accounts.login("<script>", PW)).message,  # not even a valid name
    }
    assert answers == {LOGIN_FAILED}


async def test_five_failures_block_even_the_right_password(
    core: AccessCore, clock: ManualClock
) -> None:
    await core.accounts.register("hank", PW)
    for _ in range(5):
        assert not (await core.accounts.login("hank", "nope nope")).ok
    assert not (await core.accounts.login("hank", PW)).ok
    assert await count(core, Kind.LOGIN_FAILED) == 5
    assert await count(core, Kind.LOGIN_REFUSED) == 1
    alerts = [m.text for m in await core.store.outbox.due(clock.now(), 50)]
    assert any("Account blocked" in a for a in alerts)
    clock.advance(3601)
    assert (await core.accounts.login("hank", PW)).ok


async def test_unlock_reenables_a_blocked_account(core: AccessCore) -> None:
    await core.accounts.register("ivy", PW)
    for _ in range(5):
        await core.accounts.login("ivy", "nope nope")
    await core.accounts.unlock("ivy", "user:admin")
    assert (await core.accounts.login("ivy", PW)).ok


async def test_legacy_hash_is_upgraded_at_login(core: AccessCore) -> None:
    await core.store.users.create(
        User(0, "jack", (), frozenset({Role.USER}), pbkdf2_sha256.hash("old password 1"))
    )
    assert (await core.accounts.login("jack", "old password 1")).ok
    stored = await core.store.users.get("jack")
    assert stored is not None and (stored.password_hash or "").startswith("$argon2id$")
    assert (await core.accounts.login("jack", "old password 1")).ok
    assert await count(core, Kind.PASSWORD_REHASHED) == 1


async def test_login_with_totp_then_second_factor_rotates_the_session(
    core: AccessCore, clock: ManualClock
) -> None:
    import pyotp

    user = await core.accounts.register("kate", PW, frozenset({Role.ADMIN}))
    secret = (await core.totp.begin_enrolment(user)).secret
    await core.totp.confirm_enrolment(user, pyotp.TOTP(secret).at(clock.now()))
    clock.advance(30)
    result = await core.accounts.login("kate", PW, "1.2.3.4", "UA")
    assert result.ok and result.needs_totp and result.session is not None
    assert result.session.record.mfa_at is None
    outcome, rotated = await core.accounts.second_factor(
        user, result.session.token, pyotp.TOTP(secret).at(clock.now())
    )
    assert outcome.value == "accepted" and rotated is not None
    assert rotated.token != result.session.token and rotated.record.mfa_at == clock.now()
    assert await core.sessions.validate(result.session.token, "1.2.3.4", "UA") is None
    assert await core.sessions.validate(rotated.token, "1.2.3.4", "UA") is not None


async def test_register_validates_input(core: AccessCore) -> None:
    with pytest.raises(InvalidInput):
        await core.accounts.register("bad name!", PW)
    with pytest.raises(InvalidInput):
        await core.accounts.register("shorty", "short")
    await core.accounts.register("leo", PW)
    with pytest.raises(Conflict):
        await core.accounts.register("LEO", PW)


async def test_an_address_guessing_many_accounts_is_blocked_and_reported(
    clock: ManualClock,
) -> None:
    from hostwarden.core.settings import LockoutSettings
    from hostwarden.storage.memory import MemoryStore
    from tests.conftest import fast_settings

    settings = fast_settings(lockout=LockoutSettings(ip_max_failures=4))
    core = AccessCore(MemoryStore(), settings, clock)
    await core.accounts.register("target", PW)
    for n in range(4):
        await core.accounts.login(f"guess{n}", PW, "198.51.100.7", "ua")
    assert not (await core.accounts.login("target", PW, "198.51.100.7", "ua")).ok
    assert (await core.accounts.login("target", PW, "198.51.100.8", "ua")).ok
    texts = [m.text for m in await core.store.outbox.due(clock.now(), 10)]
    assert any("Address 198.51.100.7 blocked after 4 failed logins" in t for t in texts)


async def test_update_roles_and_ids_is_audited(core: AccessCore) -> None:
    user = await core.accounts.register("mia", PW)
    updated = await core.accounts.update(user, "user:root", roles=frozenset({Role.ADMIN}))
    assert updated.roles == frozenset({Role.ADMIN}) and updated.telegram_ids == ()
    updated = await core.accounts.update(updated, "user:root", telegram_ids=(9, 10))
    stored = await core.store.users.get("mia")
    assert stored is not None and stored.telegram_ids == (9, 10) and stored.has_role(Role.USER)
    events = await core.audit.query(AuditQuery(kind=Kind.ACCOUNT_UPDATED))
    assert [e.detail["fields"] for e in events] == [["telegram_ids"], ["roles"]]
    assert events[0].actor == "user:root"
