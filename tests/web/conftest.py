"""The console over the memory store and a manual clock, driven through httpx's ASGI transport."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pyotp
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from hostwarden.config import Settings, TelegramSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Role
from hostwarden.core.policy import Policy
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings, TotpSettings
from hostwarden.storage.base import Store
from hostwarden.storage.memory import MemoryStore
from hostwarden.web.actions import web_policy
from hostwarden.web.app import create_app
from hostwarden.web.services import ConsoleServices
from tests.web.fakes import FakeEngine, FixedHost, sample_engine

ADMIN, ADMIN_PASSWORD = "root", "correct horse battery staple"
USER, USER_PASSWORD = "alice", "alice's long password"
UA = "Mozilla/5.0 (test)"
HOST_NAME = "test-host-01"


def web_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram": TelegramSettings(token=SecretStr("123456:" + "S" * 35)),
        "access": AccessSettings(rate_limit=1000),
        "totp": TotpSettings(encryption_key=SecretStr(Fernet.generate_key().decode())),
    }
    values.update(overrides)
    return Settings(**values)


def confirmation_form(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of a confirmation page's form."""
    form = r'<form method="post" action="([^"]+)" id="confirm-form">(.*?)</form>'
    match = re.search(form, page, re.S)
    assert match, "not a confirmation page"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', match.group(2))
    return html.unescape(match.group(1)), {k: html.unescape(v) for k, v in fields}


class Console:
    """A browser-like client (cookies, https://testserver) plus the core behind it."""

    def __init__(self, client: httpx.AsyncClient, core: AccessCore, clock: ManualClock) -> None:
        self.client = client
        self.core = core
        self.clock = clock
        self.secrets: dict[str, str] = {}

    async def csrf(self, path: str) -> str:
        page = await self.client.get(path)
        match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert match, f"no CSRF token on {path}: {page.status_code}"
        return match.group(1)

    async def post_from(
        self, page: httpx.Response, path: str, data: dict[str, str]
    ) -> httpx.Response:
        """Submit a form of ``page`` (whose GET must not be repeated)."""
        match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert match
        return await self.client.post(path, data={**data, "csrf": match.group(1)})

    async def post(
        self, path: str, data: dict[str, str], form_page: str | None = None
    ) -> httpx.Response:
        token = await self.csrf(form_page or path)
        return await self.client.post(path, data={**data, "csrf": token})

    async def confirm(self, path: str) -> httpx.Response:
        """Open the confirmation page at ``path`` and press its button: post its own form."""
        page = await self.client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        action, fields = confirmation_form(page.text)
        return await self.client.post(action, data=fields)

    async def login(self, username: str, password: str) -> httpx.Response:
        return await self.post("/login", {"username": username, "password": password})

    def code(self, username: str) -> str:
        self.clock.advance(30)
        return pyotp.TOTP(self.secrets[username]).at(self.clock.now())

    async def login_admin(self) -> None:
        response = await self.login(ADMIN, ADMIN_PASSWORD)
        assert response.headers["location"] == "/login/code"
        done = await self.post(
            "/login/code", {"code": self.code(ADMIN), "next": "/"}, "/login/code"
        )
        assert done.status_code == 303 and done.headers["location"] == "/", done.text


def fake_services(settings: Settings, engine: FakeEngine | None = None) -> ConsoleServices:
    """Known host readings and three fake containers (see tests/web/fakes.py)."""
    services = ConsoleServices.build(settings, host=FixedHost(), engine=engine or sample_engine())
    services.host_name = HOST_NAME
    return services


async def make_console(
    clock: ManualClock,
    settings: Settings | None = None,
    store: Store | None = None,
    services: ConsoleServices | None = None,
    policy: Policy | None = None,
) -> tuple[Console, AccessCore]:
    """The console over ``store`` (a memory store by default), an admin with 2FA and a user.

    The host and container pages read ``services`` (by default :func:`fake_services`).
    """
    settings = settings or web_settings()
    services = services or fake_services(settings)
    core = AccessCore(store or MemoryStore(), settings.core(), clock, policy or web_policy())
    await core.start()
    admin = await core.accounts.register(ADMIN, ADMIN_PASSWORD, frozenset({Role.ADMIN, Role.USER}))
    await core.accounts.register(USER, USER_PASSWORD)
    enrolment = await core.totp.begin_enrolment(admin)
    await core.totp.confirm_enrolment(admin, pyotp.TOTP(enrolment.secret).at(clock.now()))
    app = create_app(core, settings, services)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.5", 40000))
    client = httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers={"user-agent": UA}
    )
    console = Console(client, core, clock)
    console.secrets[ADMIN] = enrolment.secret
    return console, core


@pytest.fixture
async def web(clock: ManualClock) -> AsyncIterator[Console]:
    console, core = await make_console(clock)
    yield console
    await console.client.aclose()
    await core.close()
