"""POST bodies: odd CSRF tokens are a 403, only small URL-encoded forms are ever read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hostwarden.web.forms import MAX_BODY
from tests.web.conftest import ADMIN, ADMIN_PASSWORD, USER, USER_PASSWORD, Console

CHUNK = 16 * 1024


@pytest.fixture(autouse=True)
def no_multipart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any multipart parsing (and its spooling to disk) fails the test."""
    import starlette.formparsers

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a multipart body was parsed")

    monkeypatch.setattr(starlette.formparsers.MultiPartParser, "__init__", refuse)


@pytest.mark.parametrize("token", ["é" * 64, "\u2603", "é", "0" * 63 + "\u00ff", "x" * 5000])
async def test_odd_csrf_tokens_are_a_403_not_a_500(web: Console, token: str) -> None:
    login = {"username": ADMIN, "password": ADMIN_PASSWORD, "csrf": token}
    await web.csrf("/login")  # the pre-login binding cookie is set
    assert (await web.client.post("/login", data=login)).status_code == 403
    await web.login(USER, USER_PASSWORD)
    revoke = await web.client.post("/sessions/revoke", data={"handle": "*", "csrf": token})
    assert revoke.status_code == 403
    assert len(await web.core.sessions.list()) == 1


async def test_multipart_is_refused_before_it_is_parsed(web: Console) -> None:
    token = await web.csrf("/login")
    files = {"upload": ("big.bin", b"x" * 200_000, "application/octet-stream")}
    data = {"username": ADMIN, "password": ADMIN_PASSWORD, "csrf": token}
    refused = await web.client.post("/login", data=data, files=files)
    assert refused.status_code == 415
    assert "hw_session" not in refused.headers.get("set-cookie", "")
    await web.login_admin()
    token = await web.csrf("/users")
    added = await web.client.post(
        "/users", data={"username": "bob", "password": "bob's long password", "csrf": token},
        files={"f": ("a.txt", b"a", "text/plain")},
    )  # fmt: skip
    assert added.status_code == 415 and "Only plain HTML forms" in added.text
    assert [u.username for u in await web.core.store.users.list()] == [ADMIN, USER]


@pytest.mark.parametrize("kind", ["application/json", "text/plain", "multipart/mixed", "x/y"])
async def test_other_body_types_are_refused(web: Console, kind: str) -> None:
    token = await web.csrf("/login")
    body = f"username={USER}&password=x&csrf={token}".encode()
    response = await web.client.post("/login", content=body, headers={"content-type": kind})
    assert response.status_code == 415


async def test_an_oversized_body_is_refused_by_its_length_unread(web: Console) -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):
            sent.append(CHUNK)
            yield b"a" * CHUNK

    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "content-length": str(64 * CHUNK),
    }
    response = await web.client.post("/login", content=body(), headers=headers)
    assert response.status_code == 413 and "too large" in response.text
    assert sent == []


async def test_an_oversized_chunked_body_is_refused_while_streaming(web: Console) -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):
            sent.append(CHUNK)
            yield b"a" * CHUNK

    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = await web.client.post("/login", content=body(), headers=headers)
    assert response.status_code == 413
    assert sum(sent) <= MAX_BODY + CHUNK


async def test_a_form_just_under_the_limit_still_works(web: Console) -> None:
    token = await web.csrf("/login")
    padding = "p" * (MAX_BODY - 200)
    data = {"username": USER, "password": USER_PASSWORD, "csrf": token, "pad": padding}
    response = await web.client.post("/login", data=data)
    assert response.status_code == 303


async def test_too_many_fields_are_refused(web: Console) -> None:
    token = await web.csrf("/login")
    body = "&".join(f"f{n}=1" for n in range(500)) + f"&csrf={token}"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = await web.client.post("/login", content=body.encode(), headers=headers)
    assert response.status_code == 413


async def test_non_ascii_form_values_arrive_as_utf8(web: Console) -> None:
    password = "pässwörd ünïcödé ☃"
    await web.core.accounts.register("zoe", password)
    response = await web.login("zoe", password)
    assert response.status_code == 303 and response.headers["location"] == "/"
    web.client.cookies.clear()
    raw = "username=zoe&password=" + password.replace(" ", "+")
    token = await web.csrf("/login")
    body = raw.encode() + f"&csrf={token}".encode()  # raw UTF-8 bytes, not escaped
    headers = {"content-type": "application/x-www-form-urlencoded"}
    again = await web.client.post("/login", content=body, headers=headers)
    assert again.status_code == 303


async def test_a_nul_anywhere_is_a_400_before_any_store_sees_it(web: Console) -> None:
    # PostgreSQL refuses NUL in text with an error: the console never hands one over.
    token = await web.csrf("/login")
    login = {"username": "root\x00", "password": "x", "csrf": token}
    assert (await web.client.post("/login", data=login)).status_code == 400
    await web.login_admin()
    for path in ("/users/%00", "/users/a%00b/lock", "/audit?actor=%00", "/audit?kind=a%00"):
        assert (await web.client.get(path)).status_code == 400, path
    token = await web.csrf("/users")
    added = await web.client.post("/users", data={"username": "b\x00b", "csrf": token})
    assert added.status_code == 400


@pytest.mark.parametrize("length", ["abc", "-1", "1, 2", "9" * 5000])
async def test_a_malformed_content_length_is_refused(web: Console, length: str) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded", "content-length": length}
    response = await web.client.post("/login", content=b"csrf=x", headers=headers)
    assert response.status_code in (400, 413)
