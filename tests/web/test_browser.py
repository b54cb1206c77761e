"""The console in a real browser: Debian's Chromium driven by Playwright (never a downloaded one).

Screenshots of every page go to artifacts/screenshots/ (kept by CI as test artifacts), whole
pages and, under viewport/, what a 1280x800 window shows (docs/img/ holds copies of those).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from hostwarden.config import Settings
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor, Role
from hostwarden.core.service import AccessCore
from hostwarden.storage.sql import SqlStore
from hostwarden.web.actions import web_policy
from hostwarden.web.server import make_server, serve_until, wait_started
from hostwarden.web.services import ConsoleServices
from hostwarden.web.settings import WebSettings
from tests.web.conftest import ADMIN, ADMIN_PASSWORD, USER, USER_PASSWORD, web_settings

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FOUND = Path(CHROMIUM).exists()
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
HOSTILE = "<img src=x onerror=alert(1)>"
VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class Site:
    url: str
    core: AccessCore
    clock: ManualClock
    secret: str
    browser: Browser
    context: BrowserContext
    dialogs: list[str] = field(default_factory=list)

    def code(self) -> str:
        self.clock.advance(30)
        return pyotp.TOTP(self.secret).at(self.clock.now())

    async def page(self) -> Page:
        page = await self.context.new_page()
        page.on("dialog", lambda dialog: self.dialogs.append(dialog.message))
        return page


async def shot(page: Page, name: str) -> None:
    """The whole page as NAME.png, and what a 1280x800 window shows as viewport/NAME.png."""
    (SHOTS / "viewport").mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    await page.screenshot(path=str(SHOTS / "viewport" / f"{name}.png"))


@asynccontextmanager
async def open_site(
    tmp_path: Path, clock: ManualClock, containers: ContainerSettings | None = None,
    **sections: Any,
) -> AsyncIterator[Site]:  # fmt: skip
    """The console on a free port over SQLite, an admin with 2FA, a user, and Chromium.

    The host pages read this host; the container pages the engine of ``containers`` (by
    default the configured one, absent here). ``sections`` replace settings sections.
    """
    if not CHROMIUM_FOUND:
        raise RuntimeError("Chromium is missing: run ./scripts/test (apt-get install chromium)")
    settings: Settings = web_settings(
        web=WebSettings(host="127.0.0.1", port=0), containers=containers or ContainerSettings(),
        **sections,
    )  # fmt: skip
    services = ConsoleServices.build(settings)
    core = AccessCore(SqlStore(str(tmp_path / "web.db")), settings.core(), clock, web_policy())
    await core.start()
    admin = await core.accounts.register(ADMIN, ADMIN_PASSWORD, frozenset({Role.ADMIN, Role.USER}))
    await core.accounts.register(USER, USER_PASSWORD)
    enrolment = await core.totp.begin_enrolment(admin)
    await core.totp.confirm_enrolment(admin, pyotp.TOTP(enrolment.secret).at(clock.now()))
    server = make_server(core, settings, services=services)
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_until(server, stop))
    port = await wait_started(server, serving)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = await browser.new_context(viewport=VIEWPORT)
        try:
            yield Site(
                f"http://127.0.0.1:{port}",
                core,
                clock,
                enrolment.secret,
                browser,
                context,
            )
        finally:
            await context.close()
            await browser.close()
            stop.set()
            await serving
            await services.close()
            await core.close()


@pytest.fixture
async def site(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Site]:
    async with open_site(tmp_path, clock) as opened:
        yield opened


async def log_in(site: Site, page: Page, code: str | None = None) -> None:
    await page.goto(site.url + "/login")
    await page.fill("#username", ADMIN)
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("#submit")
    await page.wait_for_url("**/login/code**")
    await page.fill("#code", code or site.code())
    await page.click("#submit")


async def test_login_with_password_and_code_and_the_cookie_flags(site: Site) -> None:
    page = await site.page()
    await page.goto(site.url + "/login")
    await shot(page, "login")
    await log_in(site, page)
    await page.wait_for_selector("text=Security dashboard")
    await shot(page, "dashboard")
    [cookie] = [c for c in await site.context.cookies() if c["name"] == "__Host-hw_session"]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/" and not cookie["domain"].startswith(".")
    for name in ("audit", "users", "sessions", "blocks", "settings", "account"):
        response = await page.goto(f"{site.url}/{name}")
        assert response is not None and response.status == 200, name
        await shot(page, name)
    await page.click("#logout")
    await page.wait_for_url("**/login")
    assert [c for c in await site.context.cookies() if c["name"] == "__Host-hw_session"] == []


async def test_a_wrong_code_is_refused(site: Site) -> None:
    page = await site.page()
    await log_in(site, page, code="000000")
    assert await page.inner_text("#error") == "That code was not accepted."
    await shot(page, "wrong-code")


async def test_lockout_looks_like_a_wrong_password(site: Site) -> None:
    page = await site.page()
    for password in ["nope-nope-1"] * 5 + [ADMIN_PASSWORD]:
        await page.goto(site.url + "/login")
        await page.fill("#username", ADMIN)
        await page.fill("#password", password)
        await page.click("#submit")
        assert await page.inner_text("#error") == "Incorrect username or password."
    await shot(page, "locked-out")


async def test_an_alert_shows_on_the_dashboard_and_a_block_can_be_lifted(site: Site) -> None:
    for _ in range(3):
        await site.core.guard.decide(Actor(telegram_id=555123456, username="mallory"), "host.view")
    page = await site.page()
    await log_in(site, page)
    alerts = await page.inner_text("#recent-alerts")
    # Just logged in with a code: the admin sees whom the alert is about in full.
    assert "Blocked after attempts" in alerts and "tg:555123456" in alerts
    await page.goto(site.url + "/blocks")
    await page.click("#blocks-table button")
    assert await page.inner_text("#notice") == "Block lifted."
    assert await site.core.lockout.list_blocks() == []
    await shot(page, "unblocked")


async def test_hostile_names_are_text_and_no_script_runs(site: Site) -> None:
    page = await site.page()
    for _ in range(5):
        await page.goto(site.url + "/login")
        await page.fill("#username", HOSTILE)
        await page.fill("#password", "whatever-password")
        await page.click("#submit")
    await log_in(site, page)
    for path in ("/", "/audit", "/blocks"):
        await page.goto(site.url + path)
        assert await page.locator("main img").count() == 0
        assert "<im" in await page.inner_text("main")
    await shot(page, "hostile-names")
    assert site.dialogs == []


async def test_forged_forms_are_refused(site: Site) -> None:
    page = await site.page()
    await log_in(site, page)
    await page.goto(site.url + "/sessions")
    await page.click("#revoke-all")
    assert await page.inner_text("#question") == "End every session of every user?"
    # The real form, with its CSRF field removed (devtools can run script; the page cannot).
    await page.evaluate("document.querySelector('#confirm-form input[name=csrf]').remove()")
    await page.click("#confirm")
    assert "was not sent by this site" in await page.inner_text("main")
    # Another site's form posting here: SameSite=Strict keeps the cookie home, nothing happens.
    attacker = await site.page()
    await attacker.set_content(
        f'<form method="post" action="{site.url}/sessions/revoke"><input name="handle" value="*">'
        '<button id="go">win a prize</button></form>'
    )
    await attacker.click("#go")
    await attacker.wait_for_load_state()
    assert "/login" in attacker.url or "was not sent" in await attacker.content()
    assert len(await site.core.sessions.list()) == 1
