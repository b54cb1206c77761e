"""Behind a proxy: only what the trusted hop appended is believed (address, scheme, host)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pydantic import ValidationError

from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.settings import LockoutSettings
from hostwarden.storage.base import AuditQuery
from hostwarden.web.proxy import hop_entry, parse_ip
from hostwarden.web.settings import WebSettings
from tests.web.conftest import USER, USER_PASSWORD, Console, make_console, web_settings

PROXY = "203.0.113.5"  # the test transport's peer address: the proxy
REAL = "192.0.2.10"  # the client as the proxy saw it
SPOOFED = "198.51.100.66"  # what the client wrote itself


@asynccontextmanager
async def _console(clock: ManualClock, **web: Any) -> AsyncIterator[Console]:
    settings = web_settings(
        web=WebSettings(**{"trusted_proxy": True, "proxy_networks": [f"{PROXY}/32"], **web}),
        lockout=LockoutSettings(ip_max_failures=3),
    )
    console, core = await make_console(clock, settings)
    try:
        yield console
    finally:
        await console.client.aclose()
        await core.close()


@pytest.fixture
async def proxied(clock: ManualClock) -> AsyncIterator[Console]:
    async with _console(clock) as console:
        yield console


async def _failed_login_ips(web: Console, xff: str) -> set[str]:
    token = await web.csrf("/login")
    data = {"username": "nobody", "password": "wrong password", "csrf": token}
    await web.client.post("/login", data=data, headers={"x-forwarded-for": xff})
    events = await web.core.audit.query(AuditQuery(kind=Kind.LOGIN_FAILED))
    return {e.actor for e in events}


async def test_a_spoofed_first_entry_is_ignored_and_the_last_is_the_client(
    proxied: Console,
) -> None:
    actors = await _failed_login_ips(proxied, f"{SPOOFED}, {REAL}")
    assert actors == {f"ip:{REAL}"}


async def test_trusted_hops_pick_the_entry_the_outermost_proxy_appended(
    clock: ManualClock,
) -> None:
    async with _console(clock, trusted_hops=2) as web:
        actors = await _failed_login_ips(web, f"{SPOOFED}, {REAL}, 10.0.0.2")
        assert actors == {f"ip:{REAL}"}


async def test_without_trusted_proxy_forwarded_headers_are_ignored(web: Console) -> None:
    actors = await _failed_login_ips(web, f"{SPOOFED}, {REAL}")
    assert actors == {f"ip:{PROXY}"}


async def test_a_peer_outside_proxy_networks_is_not_believed(clock: ManualClock) -> None:
    async with _console(clock, proxy_networks=["127.0.0.0/8"]) as web:
        actors = await _failed_login_ips(web, f"{SPOOFED}, {REAL}")
        assert actors == {f"ip:{PROXY}"}


async def test_a_malformed_forwarded_address_leaves_the_peer(proxied: Console) -> None:
    actors = await _failed_login_ips(proxied, f"{REAL}, not-an-address")
    assert actors == {f"ip:{PROXY}"}


async def test_lockout_counts_the_real_client_not_the_spoofed_one(proxied: Console) -> None:
    for n in range(3):
        await _failed_login_ips(proxied, f"{SPOOFED}, 203.0.113.{n}, {REAL}")
    keys = {block.key for block in await proxied.core.lockout.list_blocks()}
    assert f"ip:{REAL}" in keys
    assert not any(SPOOFED in key or "203.0.113." in key for key in keys)


async def test_a_stolen_cookie_with_the_victims_address_up_front_is_refused(
    proxied: Console,
) -> None:
    victim = {"x-forwarded-for": REAL}
    token = await proxied.csrf("/login")
    data = {"username": USER, "password": USER_PASSWORD, "csrf": token}
    assert (await proxied.client.post("/login", data=data, headers=victim)).status_code == 303
    assert (await proxied.client.get("/account", headers=victim)).status_code == 200
    thief = {"x-forwarded-for": f"{REAL}, {SPOOFED}"}  # the proxy appended the thief's address
    assert (await proxied.client.get("/account", headers=thief)).headers["location"] == (
        "/login?next=/account"
    )


def _stylesheet(page: str) -> str:
    match = re.search(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert match
    return match.group(1)


async def test_forwarded_proto_and_host_make_https_urls(proxied: Console) -> None:
    proxied.client.base_url = "http://testserver"  # proxy -> app
    plain = await proxied.client.get("/login")
    assert _stylesheet(plain.text) == "http://testserver/static/style.css"
    tls = {"x-forwarded-proto": "https", "x-forwarded-host": "console.example.org"}
    page = await proxied.client.get("/login", headers=tls)
    assert _stylesheet(page.text) == "https://console.example.org/static/style.css"
    # Only the trusted hop's (last) entry counts; a host that is not a host is ignored.
    spoofed = {"x-forwarded-proto": "https, http", "x-forwarded-host": "evil.example/x"}
    page = await proxied.client.get("/login", headers=spoofed)
    assert _stylesheet(page.text) == "http://testserver/static/style.css"


async def test_forwarded_proto_is_ignored_without_a_trusted_proxy(web: Console) -> None:
    web.client.base_url = "http://testserver"
    page = await web.client.get("/login", headers={"x-forwarded-proto": "https"})
    assert _stylesheet(page.text) == "http://testserver/static/style.css"


def test_parse_ip_and_hop_entry() -> None:
    assert parse_ip(" 192.0.2.1:443 ") == "192.0.2.1"
    assert parse_ip("[2001:db8::1]:443") == "2001:db8::1"
    assert parse_ip("::ffff:192.0.2.1") == "192.0.2.1"
    assert parse_ip("192.0.2.1.evil") is None and parse_ip("") is None
    assert hop_entry(["a, b", "c"], 1) == "c"
    assert hop_entry(["a, b", "c"], 2) == "b"
    assert hop_entry(["a"], 3) == "a"
    assert hop_entry(["a,"], 1) is None and hop_entry([], 1) is None


def test_proxy_settings_are_bounded() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 10"):
        WebSettings(trusted_hops=11)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        WebSettings(trusted_hops=0)
    with pytest.raises(ValidationError, match="not an IP network"):
        WebSettings(proxy_networks=["proxy.example"])
    with pytest.raises(ValidationError, match="at most 64"):
        WebSettings(proxy_networks=["10.0.0.1"] * 65)
    with pytest.raises(ValidationError, match="at least 1 character"):
        WebSettings(host="")  # "" would listen on every address


async def test_a_host_header_never_becomes_a_redirect_target(web: Console) -> None:
    for path in ("/users/", "/login/", "/static/"):
        response = await web.client.get(path, headers={"host": "evil.example"})
        assert "evil.example" not in response.headers.get("location", ""), path
        assert response.status_code == 404, path
