"""The console's pages: dashboard, audit (filters, keyset pages, exports), users, blocks."""

from __future__ import annotations

import csv
import html
import io
import json
import re

from hostwarden.core.audit import Kind
from hostwarden.core.identity import Actor
from hostwarden.storage.base import AuditQuery
from tests.web.conftest import ADMIN, USER, USER_PASSWORD, Console

HOSTILE = "<img src=x onerror=alert(1)>"


async def test_dashboard_shows_attempts_alerts_blocks_and_sessions(web: Console) -> None:
    for _ in range(3):
        await web.core.guard.decide(Actor(telegram_id=555123456, username="mallory"), "host.view")
    await web.login_admin()
    web.clock.advance(601)  # the code is no longer fresh: identities are masked
    page = (await web.client.get("/")).text
    assert "<svg" in page and "unauthorized attempts (3)" in page
    assert "Blocked after attempts" in page and "tg:55*****56" in page
    assert "555123456" not in page
    assert "Active sessions (1)" in page


async def test_attacker_chosen_names_are_text(web: Console) -> None:
    for _ in range(5):
        await web.login(HOSTILE, "guess guess guess")
    await web.login_admin()
    for path in ("/", "/audit", "/blocks"):
        page = (await web.client.get(path)).text
        assert "<img" not in page.split("<main>", 1)[1].replace('<img src="data:', "")
        assert "&lt;im" in page


async def test_audit_filters_and_keyset_pages(web: Console) -> None:
    for n in range(120):
        await web.core.audit.record(Kind.ADMIN_ACTION, actor="user:bulk", action=f"n{n}")
    await web.login_admin()
    first = (await web.client.get("/audit?kind=admin.action&actor=user:bulk")).text
    assert first.count("<tr><td>") == 50 and "action=n119" in first and "action=n70" in first
    assert "action=n69" not in first
    match = re.search(r'<a href="(/audit\?[^"]+)" id="older">', first)
    assert match is not None
    second = (await web.client.get(html.unescape(match.group(1)))).text
    assert "action=n69" in second and "action=n20" in second and "action=n119" not in second


async def test_exports_are_masked_and_safe_for_spreadsheets(web: Console) -> None:
    await web.core.audit.record(
        Kind.LOGIN_FAILED, actor="ip:203.0.113.77", subject="user:=cmd|calc"
    )
    await web.core.audit.record(Kind.ACCESS_UNKNOWN, actor="tg:555123456", action="host.view")
    await web.login_admin()
    lines = (await web.client.get("/audit.jsonl")).text.splitlines()
    rows = [json.loads(line) for line in lines]
    assert {"tg:55*****56", "ip:203.0.113.*"} <= {r["actor"] for r in rows}
    assert "555123456" not in "".join(lines)
    exported = (await web.client.get("/audit.csv?kind=login.failed")).text
    [header, *body] = list(csv.reader(io.StringIO(exported)))
    assert header[:3] == ["id", "at", "event"]
    assert all(not cell.startswith(("=", "+", "@")) for row in body for cell in row)


async def test_users_add_roles_lock_and_audit_who(web: Console) -> None:
    await web.login_admin()
    added = await web.post(
        "/users", {"username": "bob", "password": "bob's long password", "telegram_ids": "42, 43"}
    )
    assert added.status_code == 303
    bob = await web.core.accounts.get("bob")
    assert bob.telegram_ids == (42, 43)
    bad = await web.post("/users", {"username": "<b>", "password": "x" * 12})
    assert "usernames are" in bad.text
    await web.post("/users/bob/update", {"admin": "1", "telegram_ids": "44"}, "/users/bob")
    assert "admin" in (await web.core.accounts.get("bob")).roles
    asked = await web.post("/users/bob/lock", {}, "/users/bob")  # no confirmation: only asks
    assert "Lock user bob?" in asked.text and not (await web.core.accounts.get("bob")).locked
    await web.confirm("/users/bob/lock")
    assert (await web.core.accounts.get("bob")).locked
    [locked] = await web.core.audit.query(AuditQuery(kind=Kind.ACCOUNT_LOCKED))
    assert locked.actor == f"user:{ADMIN}" and locked.subject == "user:bob"
    enrol = await web.post("/users/alice/totp-enrol", {}, "/users/alice")
    assert 'src="data:image/png;base64,' in enrol.text


async def test_locking_a_user_ends_their_console_session(web: Console) -> None:
    await web.login(USER, USER_PASSWORD)
    assert (await web.client.get("/account")).status_code == 200
    await web.core.accounts.lock(USER, "test")
    assert (await web.client.get("/account")).headers["location"].startswith("/login")


async def test_blocks_unblock_and_sessions_revoke(web: Console) -> None:
    for _ in range(5):
        await web.login(USER, "not the password")
    assert await web.core.lockout.list_blocks()
    await web.login_admin()
    page = await web.client.get("/blocks")
    assert "user:ali*ce" not in page.text and "too many" in page.text
    ref = page.text.split('name="ref" value="', 1)[1].split('"', 1)[0]
    done = await web.post_from(page, "/blocks/unblock", {"ref": ref})
    assert done.headers["location"].startswith("/blocks?done=Block")
    assert await web.core.lockout.list_blocks() == []
    await web.core.accounts.login(USER, USER_PASSWORD, "198.51.100.1", "other")
    sessions = await web.client.get("/sessions")
    assert "All sessions" in sessions.text and USER in sessions.text
    [theirs] = await web.core.sessions.list(  # alice's session
        (await web.core.accounts.get(USER)).id
    )
    question = await web.client.get(f"/sessions/revoke?handle={theirs.handle}")
    assert f"End session {theirs.handle} of {USER}?" in question.text
    assert "198.51.100.1" in question.text  # a fresh code: the full address
    assert await web.core.sessions.list((await web.core.accounts.get(USER)).id) == [theirs]
    await web.confirm(f"/sessions/revoke?handle={theirs.handle}")
    assert await web.core.sessions.list((await web.core.accounts.get(USER)).id) == []


async def test_settings_hide_every_secret(web: Console) -> None:
    await web.login_admin()
    page = (await web.client.get("/settings")).text
    settings = web.client._transport.app.state.settings  # type: ignore[attr-defined]
    key = settings.totp.encryption_key.get_secret_value()
    token = settings.telegram.token.get_secret_value()
    assert key not in page and token not in page and "(hidden)" in page
    assert "max_attempts" in page
