"""access.host_grants: the guard decides per host, after the role, audited like any refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.grants import HostGrants
from hostwarden.core.guard import Verdict
from hostwarden.core.identity import Actor, Role, User
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings
from hostwarden.storage.base import AuditQuery
from tests.conftest import fast_settings, make_store

ALICE, BOB, STRANGER = 1001, 1002, 555_000_555


def test_grants_by_name_or_id_add_up_and_unnamed_users_may_use_every_host() -> None:
    grants = HostGrants({"Alice": ["db1"], "1001": ["db2"], "carol": []})
    alice = User(1, "alice", (1001,), frozenset({Role.USER}))
    assert grants.hosts_for(alice) == frozenset({"db1", "db2"})
    assert grants.allows(alice, "db2") and not grants.allows(alice, "hub")
    bob = User(2, "bob", (1002,), frozenset({Role.USER}))
    assert grants.hosts_for(bob) is None and grants.allows(bob, "anything")
    carol = User(3, "carol", (), frozenset({Role.ADMIN}))
    assert grants.hosts_for(carol) == frozenset() and not grants.allows(carol, "hub")


def test_grants_must_name_valid_hosts() -> None:
    AccessSettings(host_grants={"alice": ["db-1", "x"]})
    for bad in ("DB1", "-db", "db_1", "d" * 33, ""):
        with pytest.raises(ValidationError):
            AccessSettings(host_grants={"alice": [bad]})


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_the_guard_refuses_a_host_not_granted_and_audits_it(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    access = AccessSettings(allowed_telegram_ids=[ALICE, BOB], host_grants={str(ALICE): ["db1"]})
    store = await make_store(backend, tmp_path, request)
    core = AccessCore(store, fast_settings(access=access), ManualClock())
    await core.start()
    alice, bob = Actor(telegram_id=ALICE), Actor(telegram_id=BOB)
    assert (await core.guard.decide(alice, "host.view", "db1")).allowed
    refused = await core.guard.decide(alice, "host.view", "db2")
    assert (refused.verdict, refused.reason, refused.reply) == (
        Verdict.DENY,
        "host",
        "Access denied.",
    )
    assert (await core.guard.decide(alice, "host.view")).allowed  # not about a host
    assert (await core.guard.decide(bob, "host.view", "db2")).allowed
    # The role comes first: a host does not change what a role may not do.
    assert (await core.guard.decide(alice, "containers.manage", "db1")).reason == "role"
    stranger = await core.guard.decide(Actor(telegram_id=STRANGER), "host.view", "db1")
    assert stranger.verdict is Verdict.DROP and stranger.reason == "unknown"
    [role, denied] = await core.audit.query(AuditQuery(kind=Kind.ACCESS_DENIED))
    assert role.detail["reason"] == "role"
    assert denied.detail == {"action": "host.view", "host": "db2", "reason": "host"}
    assert denied.actor == f"tg:{ALICE}"
    [unknown] = await core.audit.query(AuditQuery(kind=Kind.ACCESS_UNKNOWN))
    assert unknown.detail == {"action": "host.view", "host": "db1", "attempt": 1}
    await core.close()
