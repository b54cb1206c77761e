"""Route logic through Starlette's own TestClient (the app and the core on the client's loop)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pyotp
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Role
from hostwarden.core.service import AccessCore
from hostwarden.storage.memory import MemoryStore
from hostwarden.web.actions import web_policy
from hostwarden.web.app import create_app
from tests.web.conftest import ADMIN, ADMIN_PASSWORD, USER, USER_PASSWORD, web_settings


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match
    return match.group(1)


@pytest.fixture
def client() -> Iterator[tuple[TestClient, AccessCore, ManualClock, str]]:
    clock = ManualClock()
    settings = web_settings()
    core = AccessCore(MemoryStore(), settings.core(), clock, web_policy())
    secret: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The core starts on the TestClient's own event loop, like the app.
        await core.start()
        admin = await core.accounts.register(ADMIN, ADMIN_PASSWORD, frozenset({Role.ADMIN}))
        await core.accounts.register(USER, USER_PASSWORD)
        enrolment = await core.totp.begin_enrolment(admin)
        await core.totp.confirm_enrolment(admin, pyotp.TOTP(enrolment.secret).at(clock.now()))
        secret.append(enrolment.secret)
        yield
        await core.close()

    app = create_app(core, settings)
    app.router.lifespan_context = lifespan
    with TestClient(app, base_url="https://testserver", headers={"user-agent": "tc"}) as tc:
        yield tc, core, clock, secret[0]


def test_login_then_code_through_the_test_client(
    client: tuple[TestClient, AccessCore, ManualClock, str],
) -> None:
    tc, core, clock, secret = client
    page = tc.get("/login")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    refused = tc.post(
        "/login", data={"username": ADMIN, "password": "nope-nope", "csrf": _csrf(page.text)}
    )
    assert "Incorrect username or password." in refused.text
    step = tc.post(
        "/login", data={"username": ADMIN, "password": ADMIN_PASSWORD, "csrf": _csrf(page.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert step.headers["location"] == "/login/code"
    code_page = tc.get("/login/code")
    clock.advance(30)
    code = pyotp.TOTP(secret).at(clock.now())
    form = {"code": code, "next": "/audit", "csrf": _csrf(code_page.text)}
    done = tc.post("/login/code", data=form, follow_redirects=False)
    assert done.headers["location"] == "/audit"
    audit = tc.get("/audit")
    assert audit.status_code == 200 and "login.failed" in audit.text
    assert tc.post("/sessions/revoke", data={"handle": "*"}).status_code == 403
    assert len(tc.portal.call(core.sessions.list)) == 1  # type: ignore[union-attr]


def test_a_user_is_kept_out_of_admin_pages(
    client: tuple[TestClient, AccessCore, ManualClock, str],
) -> None:
    tc, *_ = client
    page = tc.get("/login")
    tc.post("/login", data={"username": USER, "password": USER_PASSWORD, "csrf": _csrf(page.text)})
    assert tc.get("/account").status_code == 200
    # A user lands on their account, not on a page they may not see.
    assert tc.get("/", follow_redirects=False).headers["location"] == "/account"
    for path in ("/audit", "/users", "/blocks", "/settings"):
        assert tc.get(path).status_code == 403, path
