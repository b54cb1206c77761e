"""Login: password then code, uniform refusals, cookie flags, new IDs, CSRF, headers, logout."""

from __future__ import annotations

import pyotp

from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Role
from hostwarden.storage.base import AuditQuery
from tests.web.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    USER,
    USER_PASSWORD,
    Console,
    make_console,
    web_settings,
)


async def test_security_headers_on_every_page(web: Console) -> None:
    for path in ("/login", "/", "/static/style.css", "/nowhere"):
        headers = (await web.client.get(path)).headers
        csp = headers["content-security-policy"]
        assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "max-age" in headers["strict-transport-security"]


async def test_unknown_user_wrong_password_and_locked_account_look_the_same(web: Console) -> None:
    await web.core.accounts.lock(USER, "test")
    names = ["nobody", ADMIN, USER]
    pages = [
        await web.login("nobody", "whatever password"),
        await web.login(ADMIN, "wrong password!"),
        await web.login(USER, USER_PASSWORD),  # right password, locked account
    ]
    assert {p.status_code for p in pages} == {200}
    # Each page keeps the name typed in its field, and differs in nothing else.
    for name, page in zip(names, pages, strict=True):
        assert f'maxlength="200" value="{name}">' in page.text  # and the password field focused
        assert 'autocomplete="current-password" required maxlength="1000" autofocus>' in page.text
    same = {p.text.replace(f'value="{n}"', 'value=""') for n, p in zip(names, pages, strict=True)}
    assert len(same) == 1
    assert "Incorrect username or password." in pages[0].text
    assert "hw_session" not in "".join(p.headers.get("set-cookie", "") for p in pages)


async def test_password_then_code_with_a_new_session_id_each_step(web: Console) -> None:
    first = await web.login(ADMIN, ADMIN_PASSWORD)
    assert first.status_code == 303 and first.headers["location"] == "/login/code"
    cookie = first.headers["set-cookie"]
    for flag in ("__Host-hw_session=", "Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert flag in cookie
    assert "Domain" not in cookie
    half = web.client.cookies["__Host-hw_session"]
    # Half logged in: pages send the viewer to the code step.
    assert (await web.client.get("/")).headers["location"].startswith("/login/code")

    wrong = await web.post("/login/code", {"code": "000000", "next": "/"}, "/login/code")
    assert "That code was not accepted." in wrong.text
    assert await web.core.audit.query(AuditQuery(kind=Kind.TOTP_FAILED))

    done = await web.post("/login/code", {"code": web.code(ADMIN), "next": "/"}, "/login/code")
    assert done.status_code == 303
    full = web.client.cookies["__Host-hw_session"]
    assert full != half
    assert await web.core.sessions.validate(half, "203.0.113.5", "Mozilla/5.0 (test)") is None
    dashboard = await web.client.get("/")
    assert dashboard.status_code == 200 and "Security dashboard" in dashboard.text


async def test_admins_without_a_factor_are_made_to_enrol(web: Console) -> None:
    await web.core.accounts.register("newadmin", "a long enough password", frozenset({Role.ADMIN}))
    response = await web.login("newadmin", "a long enough password")
    assert response.headers["location"] == "/"
    assert (await web.client.get("/")).headers["location"].startswith("/enrol")
    page = await web.client.get("/enrol")
    secret = page.text.split('id="secret">')[1].split("<")[0]
    assert 'src="data:image/png;base64,' in page.text
    confirm = await web.post_from(page, "/enrol", {"code": pyotp.TOTP(secret).at(web.clock.now())})
    assert confirm.status_code == 200 and confirm.text.count("<li><code>") == 10
    assert (await web.client.get("/")).status_code == 200


async def test_users_without_admin_role_see_only_their_account(web: Console) -> None:
    await web.login(USER, USER_PASSWORD)
    assert (await web.client.get("/account")).status_code == 200
    assert (await web.client.get("/audit")).status_code == 403
    sessions = await web.client.get("/sessions")
    assert "My sessions" in sessions.text and ADMIN not in sessions.text


async def test_forms_without_the_csrf_token_are_refused(web: Console) -> None:
    assert (
        await web.client.post("/login", data={"username": ADMIN, "password": ADMIN_PASSWORD})
    ).status_code == 403
    await web.login_admin()
    forged = await web.client.post("/sessions/revoke", data={"handle": "*"})
    assert forged.status_code == 403 and "was not sent by this site" in forged.text
    other = await web.client.post("/sessions/revoke", data={"handle": "*", "csrf": "0" * 64})
    assert other.status_code == 403
    assert len(await web.core.sessions.list()) == 1


async def test_idle_timeout_binding_and_logout(web: Console, clock: ManualClock) -> None:
    await web.login_admin()
    token = web.client.cookies["__Host-hw_session"]
    other_browser = await web.client.get("/", headers={"user-agent": "curl/8"})
    assert other_browser.headers["location"].startswith("/login")  # the session was ended
    assert await web.core.sessions.list() == []
    await web.login_admin()
    clock.advance(1801)
    assert (await web.client.get("/")).headers["location"].startswith("/login")
    await web.login_admin()
    assert (await web.post("/logout", {}, "/account")).headers["location"] == "/login"
    await web.core.maintain()  # clears the idle one; logout already ended the last one
    assert await web.core.sessions.list() == []
    assert token not in str(await web.core.audit.query(AuditQuery(limit=500)))


async def test_critical_pages_ask_for_a_fresh_code(web: Console, clock: ManualClock) -> None:
    await web.login_admin()
    assert (await web.client.get("/blocks")).status_code == 200
    clock.advance(601)
    step_up = await web.client.get("/blocks")
    assert step_up.headers["location"] == "/login/code?next=/blocks"
    done = await web.post(
        "/login/code", {"code": web.code(ADMIN), "next": "/blocks"}, "/login/code"
    )
    assert done.headers["location"] == "/blocks"
    assert (await web.client.get("/blocks")).status_code == 200


async def test_plain_http_only_on_loopback_and_then_without_the_prefix(clock: ManualClock) -> None:
    from pydantic import ValidationError

    from hostwarden.web.settings import WebSettings

    try:
        WebSettings(host="0.0.0.0", plain_http=True)  # noqa: S104
        raise AssertionError("plain HTTP on a public address was accepted")
    except ValidationError as exc:
        assert "loopback" in str(exc)
    local = WebSettings(host="127.0.0.1", plain_http=True)
    console, core = await make_console(clock, web_settings(web=local))
    console.client.base_url = "http://testserver"  # type: ignore[assignment]
    response = await console.login(ADMIN, ADMIN_PASSWORD)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("hw_session=") and "Secure" not in cookie and "HttpOnly" in cookie
    await console.client.aclose()
    await core.close()
