"""Sessions: timeouts, binding policies, revocation and cleanup."""

from __future__ import annotations

from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.core.sessions import hash_token, same_network
from hostwarden.core.settings import BindingPolicy, SessionSettings
from hostwarden.storage.base import AuditQuery
from hostwarden.storage.memory import MemoryStore
from tests.conftest import fast_settings


async def test_only_the_hash_is_stored(core: AccessCore) -> None:
    session = await core.sessions.create(1, "1.1.1.1", "UA")
    stored = await core.store.sessions.list()
    assert [r.token_hash for r in stored] == [hash_token(session.token)]
    assert session.token not in repr(stored)


async def test_idle_and_absolute_timeouts(core: AccessCore, clock: ManualClock) -> None:
    busy = await core.sessions.create(1, "1.1.1.1", "UA")
    idle = await core.sessions.create(2, "1.1.1.1", "UA")
    for _ in range(16):  # activity every 1,700 s keeps it alive: 27,200 s < 8 h
        clock.advance(1700)
        assert await core.sessions.validate(busy.token, "1.1.1.1", "UA") is not None
    assert await core.sessions.validate(idle.token, "1.1.1.1", "UA") is None  # idle > 30 min
    clock.advance(1700)  # 28,900 s: past the absolute limit despite activity
    assert await core.sessions.validate(busy.token, "1.1.1.1", "UA") is None


async def test_binding_mismatch_ends_the_session_and_alerts(core: AccessCore) -> None:
    session = await core.sessions.create(1, "1.1.1.1", "UA")
    assert await core.sessions.validate(session.token, "9.9.9.9", "UA", "user:x") is None
    assert await core.sessions.validate(session.token, "1.1.1.1", "UA") is None  # ended
    events = await core.audit.query(AuditQuery(kind=Kind.SESSION_BINDING_MISMATCH))
    assert len(events) == 1
    texts = [m.text for m in await core.store.outbox.due(core.clock.now(), 10)]
    assert any("another address" in t for t in texts)


async def test_subnet_and_off_policies(clock: ManualClock) -> None:
    for policy, expected in ((BindingPolicy.SUBNET, True), (BindingPolicy.OFF, True)):
        settings = fast_settings(sessions=SessionSettings(binding=policy))
        core = AccessCore(MemoryStore(), settings, clock)
        session = await core.sessions.create(1, "10.1.2.3", "UA")
        ok = await core.sessions.validate(session.token, "10.1.2.77", "UA") is not None
        assert ok is expected
    assert same_network("2001:db8::1", "2001:db8::ffff")
    assert not same_network("10.1.2.3", "10.1.3.3")
    assert not same_network("10.1.2.3", "not-an-ip")


async def test_revoke_and_clear_expired(core: AccessCore, clock: ManualClock) -> None:
    a = await core.sessions.create(1, None, None)
    b = await core.sessions.create(1, None, None)
    c = await core.sessions.create(2, None, None)
    assert await core.sessions.revoke(a.record.handle, "user:admin") == 1
    assert await core.sessions.revoke("ab", "user:admin") == 0  # too short to be a handle
    assert await core.sessions.revoke_user(1, "user:admin") == 1
    assert [r.user_id for r in await core.sessions.list()] == [2]
    clock.advance(1801)
    assert await core.sessions.clear_expired_sessions() == 1
    assert await core.sessions.validate(c.token, None, None) is None
    assert b.token != c.token
