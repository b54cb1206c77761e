"""Admin commands: /audit, /sessions, /revoke, /unblock; 2FA where the policy says critical."""

from __future__ import annotations

from hostwarden.core.audit import Kind
from hostwarden.core.identity import Role
from hostwarden.storage.base import AuditQuery
from tests.bot.conftest import ADMIN_ID, STRANGER_ID, USER_ID, Harness


async def _elevate(harness: Harness) -> None:
    secret = await harness.enrol(ADMIN_ID)
    await harness.say(ADMIN_ID, "/sessions")
    replies = await harness.say(ADMIN_ID, harness.code(secret))
    assert replies[0] == "✅ Code accepted."


async def test_sessions_list_handles_and_revoke_ends_one(harness: Harness) -> None:
    await harness.core.accounts.register(
        "webadmin", "correct horse battery", frozenset({Role.ADMIN})
    )
    login = await harness.core.accounts.login(
        "webadmin", "correct horse battery", "203.0.113.9", "ua"
    )
    assert login.ok and login.session is not None
    await _elevate(harness)
    [listing] = await harness.say(ADMIN_ID, "/sessions")
    [record] = await harness.core.sessions.list()
    assert record.handle in listing and "webadmin" in listing
    assert login.session.token not in listing and "203.0.113.9" not in listing
    assert await harness.say(ADMIN_ID, f"/revoke {record.handle}") == ["✅ Session revoked."]
    assert await harness.core.sessions.list() == []
    assert await harness.say(ADMIN_ID, f"/revoke {record.handle}") == [
        "No session has that handle."
    ]


async def test_unblock_by_id_and_audit_shows_masked_refs(harness: Harness) -> None:
    for _ in range(3):
        await harness.say(STRANGER_ID, "hi")
    await _elevate(harness)
    assert await harness.say(ADMIN_ID, f"/unblock {STRANGER_ID}") == ["✅ Block lifted."]
    assert await harness.say(ADMIN_ID, f"/unblock {STRANGER_ID}") == [
        "No such block (already lifted or expired)."
    ]
    [lifted] = await harness.core.audit.query(AuditQuery(kind=Kind.BLOCK_LIFTED))
    assert lifted.actor == f"tg:{ADMIN_ID}"
    [audit] = await harness.say(ADMIN_ID, "/audit 30")
    assert "block.lifted" in audit and "55*****56" in audit and str(STRANGER_ID) not in audit
    assert await harness.say(USER_ID, "/audit") == ["Access denied."]
