"""A console request's access work in one store step (core/viewing.py) behaves alike on memory,
SQLite and PostgreSQL: session limits, revocation, binding, account, second factor, the guard.

A second store object on the same database (another process or replica) sees a revocation,
a lock and a block made through the first at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.decision import Decision, Verdict
from hostwarden.core.identity import Actor, Role, User
from hostwarden.core.service import AccessCore
from hostwarden.core.sessions import hash_token
from hostwarden.core.settings import AccessSettings
from hostwarden.core.viewing import ViewPlan
from hostwarden.storage.base import AuditQuery, TotpFactor
from hostwarden.storage.sql import SqlStore
from hostwarden.storage.sql.views import SqlViews
from tests.conftest import fast_settings

IP, UA = "10.0.0.7", "Browser/1"


@pytest.fixture
async def cores(store: Any, clock: ManualClock) -> AsyncIterator[tuple[AccessCore, AccessCore]]:
    """A core over ``store`` and one over a second store object on its database."""
    settings = fast_settings(access=AccessSettings(host_grants={"bob": ["db1"]}))
    first = AccessCore(store, settings, clock)
    other = SqlStore(store.db.url) if isinstance(store, SqlStore) else store
    if other is not store:
        await other.start()
    yield first, AccessCore(other, settings, clock)
    if other is not store:
        await other.close()


async def user(core: AccessCore, name: str, role: Role, enrolled: bool) -> User:
    now = core.clock.now()
    made = await core.store.users.create(User(0, name, (), frozenset({role}), "x", False, now))
    if enrolled:
        await core.store.totp.put_factor(TotpFactor(made.id, "secret", True, now), made.id)
    return made


async def events(core: AccessCore, kind: str) -> int:
    return len(await core.audit.query(AuditQuery(kind=kind)))


async def test_session_user_factor_and_decision_together(
    cores: tuple[AccessCore, AccessCore], clock: ManualClock
) -> None:
    core, twin = cores
    alice = await user(core, "alice", Role.ADMIN, enrolled=True)
    session = await core.sessions.create(alice.id, IP, UA, mfa=True)
    clock.advance(60)
    seen = await twin.viewing.view(session.token, IP, UA, "admin.audit")
    assert seen.user is not None and seen.user.username == "alice"
    assert seen.enrolled and seen.record is not None
    assert seen.record.last_seen == clock.now()  # renewed in the same step
    assert seen.decision is not None and seen.decision.verdict is Verdict.ALLOW
    assert await events(core, Kind.ACCESS_GRANTED) == 1  # committed with the rest
    [stored] = await core.store.sessions.list()
    assert stored.last_seen == clock.now()
    just_viewer = await core.viewing.view(session.token, IP, UA)
    assert just_viewer.user is not None and just_viewer.decision is None
    assert await events(core, Kind.ACCESS_GRANTED) == 1


async def test_idle_and_absolute_limits_and_revocation(
    cores: tuple[AccessCore, AccessCore], clock: ManualClock
) -> None:
    core, twin = cores
    bob = await user(core, "bob", Role.USER, enrolled=False)
    busy = await core.sessions.create(bob.id, IP, UA)
    idle = await core.sessions.create(bob.id, IP, UA)
    revoked = await core.sessions.create(bob.id, IP, UA)
    for _ in range(16):  # activity every 1,700 s keeps it alive: 27,200 s < 8 h
        clock.advance(1700)
        seen = await twin.viewing.view(busy.token, IP, UA, "host.view")
        assert seen.decision is not None and seen.decision.allowed
    assert (await twin.viewing.view(idle.token, IP, UA, "host.view")).user is None
    clock.advance(1700)  # past the absolute limit despite activity
    gone = await twin.viewing.view(busy.token, IP, UA, "host.view")
    assert gone.user is None and gone.record is None and gone.decision is None
    fresh = await core.sessions.create(bob.id, IP, UA)
    assert (await twin.viewing.view(fresh.token, IP, UA)).user is not None
    await core.sessions.revoke(fresh.record.handle, "user:admin")
    assert (await twin.viewing.view(fresh.token, IP, UA, "host.view")).user is None
    assert (await twin.viewing.view(revoked.token, IP, UA)).user is None  # idle as well
    assert (await twin.viewing.view("", IP, UA)).user is None


async def test_binding_account_and_lock(cores: tuple[AccessCore, AccessCore]) -> None:
    core, twin = cores
    bob = await user(core, "bob", Role.USER, enrolled=False)
    moved = await core.sessions.create(bob.id, IP, UA)
    assert (await twin.viewing.view(moved.token, "10.9.9.9", UA, "host.view")).user is None
    assert await events(core, Kind.SESSION_BINDING_MISMATCH) == 1
    assert (await twin.viewing.view(moved.token, IP, UA)).record is None  # it was ended
    session = await core.sessions.create(bob.id, IP, UA)
    await core.store.users.update(User(bob.id, "bob", (), bob.roles, "x", True, bob.created_at))
    locked = await twin.viewing.view(session.token, IP, UA, "host.view")
    assert locked.record is not None and locked.user is None and locked.decision is None
    assert await core.store.users.delete(bob.id)
    assert (await twin.viewing.view(session.token, IP, UA, "host.view")).user is None


async def test_second_factor_owed_asks_no_decision(cores: tuple[AccessCore, AccessCore]) -> None:
    core, twin = cores
    alice = await user(core, "alice", Role.ADMIN, enrolled=True)
    newcomer = await user(core, "carol", Role.ADMIN, enrolled=False)
    bob = await user(core, "bob", Role.USER, enrolled=False)
    for who, enrolled in ((alice, True), (newcomer, False)):
        half = await core.sessions.create(who.id, IP, UA)
        seen = await twin.viewing.view(half.token, IP, UA, "host.view")
        assert seen.user is not None and seen.enrolled is enrolled and seen.decision is None
    plain = await core.sessions.create(bob.id, IP, UA)  # no factor and no admin: no step owed
    seen = await twin.viewing.view(plain.token, IP, UA, "host.view")
    assert seen.decision is not None and seen.decision.allowed
    assert await events(core, Kind.ACCESS_GRANTED) == 0


async def test_blocks_grants_and_step_up(
    cores: tuple[AccessCore, AccessCore], clock: ManualClock
) -> None:
    core, twin = cores
    bob = await user(core, "bob", Role.USER, enrolled=False)
    alice = await user(core, "alice", Role.ADMIN, enrolled=True)
    session = await core.sessions.create(bob.id, IP, UA)
    seen = await twin.viewing.view(session.token, IP, UA, "host.view", "db2")
    assert seen.decision is not None and seen.decision.reason == "host"  # bob: db1 only
    seen = await twin.viewing.view(session.token, IP, UA, "host.view", "db1")
    assert seen.decision is not None and seen.decision.allowed
    admin = await core.sessions.create(alice.id, IP, UA, mfa=True)
    seen = await twin.viewing.view(admin.token, IP, UA, "admin.users")
    assert seen.decision is not None and seen.decision.allowed
    clock.advance(core.settings.sessions.mfa_fresh_seconds + 1)
    seen = await twin.viewing.view(admin.token, IP, UA, "admin.users")
    assert seen.decision is not None and seen.decision.verdict is Verdict.ASK_TOTP
    await core.lockout.block(f"ip:{IP}", "user:admin", seconds=600)
    seen = await twin.viewing.view(admin.token, IP, UA, "host.view")
    assert seen.decision is not None and seen.decision.reason == "blocked"
    clock.advance(601)
    seen = await twin.viewing.view(admin.token, IP, UA, "host.view")
    assert seen.decision is not None and seen.decision.allowed
    assert await events(core, Kind.ACCESS_BLOCKED) == 1  # the blocked view, audited


async def test_sqlalchemy_path_on_sqlite_in_memory(clock: ManualClock) -> None:
    """An SQLite database in memory takes storage/sql/views.py (one SQLAlchemy transaction)."""
    store = SqlStore("sqlite://")
    assert isinstance(store.views, SqlViews)
    core = AccessCore(store, fast_settings(), clock)
    await core.start()
    try:
        alice = await user(core, "alice", Role.ADMIN, enrolled=True)
        session = await core.sessions.create(alice.id, IP, UA, mfa=True)
        clock.advance(60)
        seen = await core.viewing.view(session.token, IP, UA, "admin.audit")
        assert seen.enrolled and seen.record is not None and seen.record.last_seen == clock.now()
        assert seen.decision is not None and seen.decision.allowed
        assert await events(core, Kind.ACCESS_GRANTED) == 1
        clock.advance(core.settings.sessions.idle_seconds + 1)
        assert (await core.viewing.view(session.token, IP, UA, "admin.audit")).user is None
    finally:
        await core.close()


async def test_a_view_that_fails_part_way_fails_alone(
    store: Any, cores: tuple[AccessCore, AccessCore], clock: ManualClock
) -> None:
    """A view whose plan raises (a bug, not the database) answers its caller an error; the
    decisions queued with it stand, and on SQL stores its session renewal is undone."""
    core, _ = cores
    bob = await user(core, "bob", Role.USER, enrolled=False)
    session = await core.sessions.create(bob.id, IP, UA)
    clock.advance(60)

    def broken(actor: Actor, action: str, host: str | None) -> Any:
        raise RuntimeError("a bug in a plan")

    now = clock.now()
    idle_after, created_after = core.sessions.limits(now)
    plan = ViewPlan(
        hash_token(session.token), now, idle_after, created_after, IP, UA, "host.view", None,
        core.sessions.bound, core.directory.resolve_user, broken,
    )  # fmt: skip
    viewed, decided = await asyncio.gather(
        store.views.view(plan),
        core.guard.decide(Actor(username="bob", ip=IP), "host.view"),
        return_exceptions=True,
    )
    assert isinstance(viewed, RuntimeError)
    assert isinstance(decided, Decision) and decided.allowed
    [kept] = await core.store.sessions.list()
    if isinstance(store, SqlStore):
        assert kept.last_seen == session.record.last_seen
