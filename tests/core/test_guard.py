"""The seeds' flow through Guard.decide: unknown, blocked, known, roles, 2FA."""

from __future__ import annotations

import asyncio

import pyotp

from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.guard import Verdict
from hostwarden.core.identity import Actor, Role, User
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings
from hostwarden.core.totp import TotpOutcome
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.memory import MemoryStore
from tests.conftest import fast_settings

STRANGER = Actor(telegram_id=987654321, username="mallory_the_attacker")


async def kinds(core: AccessCore, kind: str) -> int:
    return len(await core.audit.query(AuditQuery(kind=kind, limit=1000)))


async def outbox_texts(core: AccessCore) -> list[str]:
    return [m.text for m in await core.store.outbox.due(core.clock.now(), 100)]


async def test_unknown_user_is_dropped_alerted_and_blocked_at_max_attempts(
    core: AccessCore,
) -> None:
    verdicts = [(await core.guard.decide(STRANGER, "host.view")).verdict for _ in range(4)]
    assert verdicts == [Verdict.DROP] * 4
    texts = await outbox_texts(core)
    # First attempt alerts; the second is suppressed (300 s); the third blocks and always alerts.
    assert len(texts) == 2
    assert "Unauthorized access attempt" in texts[0] and "Attempt: 1, 2 left" in texts[0]
    assert "blocked" in texts[1] and "Attempt: 3, 0 left" in texts[1]
    for text in texts:
        assert "987654321" not in text and "mallory_the_attacker" not in text
        assert "98*****21" in text and "mal" in text
        assert "regenerate it if it may have leaked" in text
    block = await core.lockout.blocked(("tg:987654321",))
    assert block is not None
    assert await kinds(core, Kind.ACCESS_UNKNOWN) == 3
    assert await kinds(core, Kind.ACCESS_BLOCKED) == 2  # the blocking attempt and the next one


async def test_suppression_lets_a_new_alert_through_after_the_interval(
    core: AccessCore, clock: ManualClock
) -> None:
    await core.guard.decide(STRANGER, "host.view")
    clock.advance(301)
    await core.guard.decide(STRANGER, "host.view")
    assert len(await outbox_texts(core)) == 2


async def test_setup_action_tells_unknown_users_their_id_and_counts(core: AccessCore) -> None:
    decision = await core.guard.decide(STRANGER, "getmyid")
    assert decision.verdict is Verdict.ALLOW and decision.user is None
    await core.guard.decide(STRANGER, "getmyid")
    third = await core.guard.decide(STRANGER, "getmyid")
    assert third.verdict is Verdict.DROP  # the attempt that blocks is not answered


async def test_block_survives_a_restart_on_sql(tmp_path: object, clock: ManualClock) -> None:
    from hostwarden.storage.sql import SqlStore

    path = f"{tmp_path}/db.sqlite"
    first = AccessCore(SqlStore(path), fast_settings(), clock)
    await first.start()
    for _ in range(3):
        await first.guard.decide(STRANGER, "host.view")
    await first.close()
    second = AccessCore(SqlStore(path), fast_settings(), clock)
    await second.start()
    assert (await second.guard.decide(STRANGER, "host.view")).reason == "blocked"
    await second.close()


async def test_config_users_get_roles_and_unknown_actions_are_denied(clock: ManualClock) -> None:
    access = AccessSettings(allowed_telegram_ids=[10], admin_telegram_ids=[20])
    core = AccessCore(MemoryStore(), fast_settings(access=access), clock)
    await core.start()
    user, admin = Actor(telegram_id=10), Actor(telegram_id=20)
    assert (await core.guard.decide(user, "host.view")).allowed
    denied = await core.guard.decide(user, "admin.audit")
    assert denied.verdict is Verdict.DENY and denied.reply == "Access denied."
    assert (await core.guard.decide(admin, "admin.audit")).allowed
    assert (await core.guard.decide(admin, "no.such.action")).verdict is Verdict.DENY
    assert await kinds(core, Kind.ACCESS_DENIED) == 2


async def test_critical_action_needs_enrolment_then_a_fresh_code(
    clock: ManualClock,
) -> None:
    core = AccessCore(
        MemoryStore(), fast_settings(access=AccessSettings(admin_telegram_ids=[20])), clock
    )
    await core.start()
    admin = Actor(telegram_id=20)
    first = await core.guard.decide(admin, "containers.manage")
    assert first.verdict is Verdict.DENY and "enrol" in (first.reply or "")
    user = first.user
    assert user is not None and user.has_role(Role.ADMIN)
    enrolment = await core.totp.begin_enrolment(user)
    totp = pyotp.TOTP(enrolment.secret)
    await core.totp.confirm_enrolment(user, totp.at(clock.now()))
    assert (await core.guard.decide(admin, "containers.manage")).verdict is Verdict.ASK_TOTP
    # the code used for enrolment cannot be replayed
    assert await core.guard.submit_totp(admin, totp.at(clock.now())) is TotpOutcome.REPLAYED
    clock.advance(30)
    assert await core.guard.submit_totp(admin, "000000") in (
        TotpOutcome.INVALID,
        TotpOutcome.ACCEPTED,  # one chance in a million that 000000 is right
    )
    assert await core.guard.submit_totp(admin, totp.at(clock.now())) is TotpOutcome.ACCEPTED
    assert (await core.guard.decide(admin, "containers.manage")).allowed
    clock.advance(601)
    assert (await core.guard.decide(admin, "containers.manage")).verdict is Verdict.ASK_TOTP


async def test_wrong_code_raises_an_alert(clock: ManualClock) -> None:
    core = AccessCore(
        MemoryStore(), fast_settings(access=AccessSettings(admin_telegram_ids=[20])), clock
    )
    await core.start()
    admin = Actor(telegram_id=20)
    user = (await core.guard.decide(admin, "host.view")).user
    assert user is not None
    secret = (await core.totp.begin_enrolment(user)).secret
    await core.totp.confirm_enrolment(user, pyotp.TOTP(secret).at(clock.now()))
    wrong = "123456" if pyotp.TOTP(secret).at(clock.now()) != "123456" else "654321"
    assert await core.guard.submit_totp(admin, wrong) is TotpOutcome.INVALID
    texts = await outbox_texts(core)
    assert any("Wrong 2FA code" in t for t in texts)
    assert await kinds(core, Kind.TOTP_FAILED) == 1


async def test_role_less_user_counts_as_unknown(core: AccessCore) -> None:
    await core.accounts.register("ghost", None, frozenset(), (555,))
    assert (await core.guard.decide(Actor(telegram_id=555), "host.view")).verdict is Verdict.DROP
    assert await kinds(core, Kind.ACCESS_UNKNOWN) == 1


async def test_a_telegram_username_cannot_inherit_a_web_accounts_block(
    core: AccessCore,
) -> None:
    await core.accounts.register("admin", "correct horse battery", frozenset({Role.USER}), (31,))
    await core.lockout.block("user:admin", actor="test")
    namesake = Actor(telegram_id=31, username="admin")
    assert (await core.guard.decide(namesake, "host.view")).allowed


async def test_config_user_gets_an_account_even_if_its_default_name_is_taken(
    clock: ManualClock,
) -> None:
    core = AccessCore(
        MemoryStore(), fast_settings(access=AccessSettings(allowed_telegram_ids=[77])), clock
    )
    await core.accounts.register("tg77", None, frozenset({Role.USER}), (78,))
    decision = await core.guard.decide(Actor(telegram_id=77), "host.view")
    assert decision.allowed and decision.user is not None
    assert decision.user.username == "tg77-1"


async def test_a_known_user_over_the_rate_is_slowed_not_blocked(clock: ManualClock) -> None:
    access = AccessSettings(allowed_telegram_ids=[42], rate_limit=5, rate_window_seconds=10)
    core = AccessCore(MemoryStore(), fast_settings(access=access), clock)
    await core.start()
    user = Actor(telegram_id=42)
    verdicts = [(await core.guard.decide(user, "host.view")).verdict for _ in range(8)]
    assert verdicts == [Verdict.ALLOW] * 5 + [Verdict.DROP] * 3
    throttled = await core.audit.query(AuditQuery(kind=Kind.ACCESS_THROTTLED))
    assert len(throttled) == 1  # once per window, not once per dropped request
    assert await core.lockout.list_blocks() == []
    clock.advance(11)
    assert (await core.guard.decide(user, "host.view")).verdict is Verdict.ALLOW
    await core.close()


async def test_a_burst_of_first_messages_from_a_config_user_creates_one_account(
    clock: ManualClock,
) -> None:
    store = MemoryStore()
    core = AccessCore(store, fast_settings(access=AccessSettings(allowed_telegram_ids=[88])), clock)
    created: list[str] = []
    create = store.users.create

    async def counted(user: User) -> User:
        created.append(user.username)
        await asyncio.sleep(0)  # a real store's insert suspends: the burst arrives meanwhile
        return await create(user)

    store.users.create = counted  # type: ignore[method-assign]
    decisions = await asyncio.gather(
        *(core.guard.decide(Actor(telegram_id=88), "host.view") for _ in range(20))
    )
    assert all(d.allowed for d in decisions)
    assert created == ["tg88"]
