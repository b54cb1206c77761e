"""The console over the memory store and a manual clock, driven through httpx's ASGI transport."""

from __future__ import annotations

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
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings, TotpSettings
from hostwarden.storage.base import Store
from hostwarden.storage.memory import MemoryStore
from hostwarden.web.actions import web_policy
from hostwarden.web.app import create_app

ADMIN, ADMIN_PASSWORD = "root", "correct horse battery staple"
USER, USER_PASSWORD = "alice", "alice's long password"
UA = "Mozilla/5.0 (test)"


def web_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram": TelegramSettings(token=SecretStr("123456:" + "S" * 35)),
        "access": AccessSettings(rate_limit=1000),
        "totp": TotpSettings(encryption_key=SecretStr(Fernet.generate_key().decode())),
    }
    values.update(overrides)
    return Settings(**values)


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


async def make_console(
    clock: ManualClock, settings: Settings | None = None, store: Store | None = None
) -> tuple[Console, AccessCore]:
    """The console over ``store`` (a memory store by default), an admin with 2FA and a user."""
    settings = settings or web_settings()
    core = AccessCore(store or MemoryStore(), settings.core(), clock, web_policy())
    await core.start()
    admin = await core.accounts.register(ADMIN, ADMIN_PASSWORD, frozenset({Role.ADMIN, Role.USER}))
    await core.accounts.register(USER, USER_PASSWORD)
    enrolment = await core.totp.begin_enrolment(admin)
    await core.totp.confirm_enrolment(admin, pyotp.TOTP(enrolment.secret).at(clock.now()))
    transport = httpx.ASGITransport(app=create_app(core, settings), client=("203.0.113.5", 40000))
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
