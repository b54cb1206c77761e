"""A seeded fuzz over every route of the console: no 500, no traceback, no secret in any body.

First every route is sent GET and POST by each of three visitors (logged out, a user, an admin
with a fresh code), with a valid CSRF token so that handlers run; then :data:`COUNT` generated
requests (``random.Random(SEED)``, so a failure replays) with hostile paths, query strings, form
bodies, cookies, headers and methods. A visitor whose session the last request ended (binding,
logout, revocation, lock) gets a new one from the core before its next request.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pyotp
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Role
from hostwarden.core.service import AccessCore
from hostwarden.core.sessions import hash_token
from hostwarden.core.settings import AccessSettings, LockoutSettings
from hostwarden.web.settings import WebSettings
from tests.conftest import make_store
from tests.web.conftest import ADMIN, ADMIN_PASSWORD, UA, USER, USER_PASSWORD, make_console
from tests.web.conftest import web_settings as base_settings

#: Fixed, so that a failure replays; HOSTWARDEN_FUZZ_SEED explores other sequences.
SEED = int(os.environ.get("HOSTWARDEN_FUZZ_SEED", "20260408"))
#: Generated requests per store: the memory store gets the thousand, SQL stores fewer (slower).
COUNT = {"memory": 1_100, "sqlite": 250, "postgres": 200}
PEER = "203.0.113.5"
BINDING = "b" * 43  # a well-formed pre-login CSRF binding
WEB_KEY = "web-signing-key-" + "k" * 32

HOSTILE = [
    "", " ", "0", "-1", "99999999999999999999999", "1e309", "NaN", "null", "true", "[]", "{}",
    "<script>alert(1)</script>", "\"'><img src=x onerror=alert(1)>", "{{ 7*7 }}", "{% raw %}",
    "../../etc/passwd", "..\\..\\windows", "/", "//evil.example", "/\\evil.example",
    "https://evil.example/", "javascript:alert(1)", "%00", "\x00", "\r\nSet-Cookie: x=1",
    "é", "ü" * 50, "\u202e", "\U0001f600", "\ufffd", "\udcff", "A" * 5000, "=cmd|calc", "-",
    "*", "root", "alice", "nobody", "0000-00-00", "9999-12-31T23:59:59", "2024-13-45",
    "2024-01-01T00:00:00+14:00", "0001-01-01", "1,2,3", "-5, 9999999999999999", "123456",
    "abcd-efgh", "%ff%fe", "a=b&c=d", ";", "||", "`id`", "$(id)",
]  # fmt: skip
FIELDS = [
    "csrf", "username", "password", "code", "next", "handle", "ref", "telegram_ids", "admin",
    "current", "x", "", "confirm",
]  # fmt: skip
QUERY_KEYS = [
    "next", "kind", "since", "until", "actor", "before", "done", "x", "", "q", "state", "page",
    "check", "mine", "handle",
]  # fmt: skip
OPS = [
    "update", "lock", "unlock", "password", "sessions", "totp-reset", "totp-enrol",
    "totp-confirm", "recovery", "nope", "..", "%2e%2e", "",
]  # fmt: skip
NAMES = [
    ADMIN, USER, "bob", "nobody", "<b>", "..", "%2e%2e", "a%2Fb", "é", "A" * 300, "%00", "web",
    "worker", "backup-job", "-x", ".hidden",
]  # fmt: skip
VERBS = ["start", "stop", "restart", "nope", "..", "", "%2e"]
HOSTILE_PATHS = [
    "/static/../pyproject.toml", "/static/%2e%2e/%2e%2e/pyproject.toml", "/static/%00",
    "/static/style.css%00.png", "/static/", "/static", "/static/..%2fapp.py", "//evil.example",
    "/%2e%2e/%2e%2e/etc/passwd", "/users/", "/users//lock", "/users/%ff", "/login/../audit",
    "/audit.csv/", "/nowhere", "/" + "a" * 3000, "/users/" + "%41" * 800, "/%e2%80%ae",
    "/login%00", "/.git/config", "/sessions/revoke/", "/account/recovery/x", "/containers/",
    "/containers//restart", "/containers/web/restart/x", "/containers/%2e%2e/stop",
    "/containers/web%2Frestart", "/images/", "/host/", "/static/favicon.svg%00",
]  # fmt: skip
CONTENT_TYPES: list[str | bytes | None] = [
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-16",
    "APPLICATION/X-WWW-FORM-URLENCODED", "multipart/form-data; boundary=xyz",
    "multipart/form-data", "application/json", "text/plain", "", "x", b"\xff\xfe", None,
]  # fmt: skip
XFF = [
    "garbage", "", ",", ",,,", "unknown", "192.0.2.1, garbage", "garbage, 203.0.113.5",
    "999.999.999.999", "::1", "[::1]:80", "fe80::1%eth0", "1.2.3.4:5:6", "a" * 2000,
    ", ".join(["10.0.0.1"] * 300), "203.0.113.5", "198.51.100.9",
]  # fmt: skip
HOSTS: list[str | bytes] = [
    "", "evil.example", "[", "[::1", "a b", b"\xfc", "x" * 1000, "testserver:99999",
    "testserver:abc", "testserver/evil", "@evil", "testserver:443",
]  # fmt: skip
METHODS = ["GET"] * 9 + ["POST"] * 7 + ["HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]


@dataclass
class Visitor:
    """One browser: who it is and the cookies it holds (sent by hand, mutated at will)."""

    kind: str  # "anon", "user" or "admin"
    client: httpx.AsyncClient
    username: str | None = None
    token: str = ""


@dataclass
class Fuzz:
    backend: str
    core: AccessCore
    app: Starlette
    visitors: list[Visitor]
    secrets: dict[str, str] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    covered: set[tuple[str, str, str]] = field(default_factory=set)
    sent: int = 0

    @property
    def cookie(self) -> str:
        return str(self.app.state.console.settings.cookie_name)

    @property
    def csrf_cookie(self) -> str:
        return str(self.app.state.console.settings.csrf_cookie_name)

    def csrf(self, visitor: Visitor) -> str:
        signer = self.app.state.console.signer
        return str(signer.token_for(hash_token(visitor.token) if visitor.token else BINDING))

    def confirmation(self, visitor: Visitor, what: str) -> tuple[str, str]:
        """The confirmation token and time a question page would give ``visitor`` for ``what``."""
        signer = self.app.state.console.signer
        asked = str(int(self.core.clock.now().timestamp()))
        return str(signer.token_for(f"confirm|{hash_token(visitor.token)}|{what}|{asked}")), asked

    async def heal(self, visitor: Visitor) -> None:
        """Give a logged-in visitor its account back (unlocked, its roles) and a live session."""
        if visitor.username is None:
            return
        accounts = self.core.accounts
        user = await accounts.get(visitor.username)
        if user.locked:
            await accounts.unlock(user.username, "fuzz")
        roles = frozenset({Role.ADMIN, Role.USER}) if visitor.kind == "admin" else user.roles
        if user.roles != roles:
            await accounts.update(user, "fuzz", roles=roles)
        live = {r.token_hash: r for r in await self.core.sessions.list(user.id)}
        current = live.get(hash_token(visitor.token)) if visitor.token else None
        if current is None or current.mfa_at is None:
            session = await self.core.sessions.create(user.id, PEER, UA, mfa=True)
            visitor.token = session.token
            self.tokens.add(session.token)

    def check(self, label: str, response: httpx.Response) -> str | None:
        """No server error, no traceback, no secret and no session token in the body.

        Returns the session token the response set, if it set one.
        """
        issued = None
        for value in response.headers.get_list("set-cookie"):
            match = re.match(r"(?:__Host-)?hw_session=([^;]+)", value)
            if match and match.group(1) != '""':
                issued = match.group(1)
                self.tokens.add(issued)
        body = response.content
        # pytest.fail, not assert: the report must not print the body (or a secret in it).
        if response.status_code >= 500 or b"Traceback" in body:
            pytest.fail(f"{label}: {response.status_code}, traceback: {b'Traceback' in body}")
        for name, secret in self.secrets.items():
            if secret.encode() in body:
                pytest.fail(f"{label}: the {name} is in the body")
        if any(token.encode() in body for token in self.tokens):
            pytest.fail(f"{label}: a session token is in the body")
        return issued

    async def send(
        self, visitor: Visitor, method: str, target: str, headers: list[tuple[bytes, bytes]],
        body: bytes | None = None, chunked: bool = False, route: str = "",
    ) -> httpx.Response:  # fmt: skip
        await self.heal(visitor)
        url = httpx.URL("https://testserver").copy_with(raw_path=target.encode("ascii"))
        content: Any = body
        if chunked and body is not None:

            async def stream() -> AsyncIterator[bytes]:
                for start in range(0, len(body), 8192):
                    yield body[start : start + 8192]

            content = stream()
        request = visitor.client.build_request(method, url, content=content)
        replaced = {name.lower() for name, _ in headers}
        kept = [(n, v) for n, v in request.headers.raw if n.lower() not in replaced]
        request.headers = httpx.Headers([*kept, *headers])
        shown = [
            (n, v.replace(visitor.token.encode() or b"-", b"<token>")[:80]) for n, v in headers
        ]
        label = f"{visitor.kind} {method} {target[:200]!r} {shown}"
        try:
            response = await visitor.client.send(request)
        except Exception as exc:  # the app raised: report the request that did it
            raise AssertionError(f"{label}: {type(exc).__name__}: {exc}") from exc
        visitor.client.cookies.clear()  # cookies go by hand
        self.sent += 1
        if route:
            self.covered.add((route, method, visitor.kind))
        issued = self.check(label, response)
        if issued is not None and visitor.username is not None:
            visitor.token = issued  # a rotation: keep the new one
        return response

    def cookies(self, visitor: Visitor) -> bytes:
        """The Cookie header a browser would send."""
        parts = [f"{self.csrf_cookie}={BINDING}"]
        if visitor.token:
            parts.append(f"{self.cookie}={visitor.token}")
        return "; ".join(parts).encode()


def routes(app: Starlette) -> list[tuple[str, set[str]]]:
    """Every route of the app as (path template, methods)."""
    found: list[tuple[str, set[str]]] = []
    for route in app.routes:
        if isinstance(route, Route):
            found.append((route.path, set(route.methods or ())))
        elif isinstance(route, Mount):
            found.append((route.path + "/style.css", {"GET", "HEAD"}))
    return found


def fill(template: str, rng: random.Random) -> str:
    return fill_parts(template, rng)[0]


def fill_parts(template: str, rng: random.Random) -> tuple[str, str]:
    """A path for ``template``, and what its confirmation token confirms (``op:name``)."""
    name, op, verb = rng.choice(NAMES), rng.choice(OPS), rng.choice(VERBS)
    path = template.replace("{name}", quote(name, safe="%"))
    path = path.replace("{op}", quote(op, safe="%")).replace("{verb}", quote(verb, safe="%"))
    what = f"{verb}:{name}" if "{verb}" in template else f"{op}:{name}"
    return path, what


def hostile(rng: random.Random) -> str:
    value = rng.choice(HOSTILE)
    if rng.random() < 0.1:
        value = (value * rng.randint(2, 200))[:6000]
    return value


def query(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return ""
    if roll < 0.5:
        return "?" + rng.choice(["%", "%%%", "a=%ff", "&&&=&", "=", "next=%2F%2Fevil", "x" * 4000])
    pairs = [(rng.choice(QUERY_KEYS), hostile(rng)) for _ in range(rng.randint(1, 5))]
    return "?" + urlencode(pairs, quote_via=quote, errors="surrogatepass")


def form_body(fuzz: Fuzz, visitor: Visitor, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice([b"\xff\xfe%zz&=&==", b"csrf=%" + b"\xff" * 10, b"&" * 300])
    if roll < 0.08:
        return b"a=" + b"x" * rng.choice([65_000, 70_000, 200_000])
    if roll < 0.1:
        return "&".join(f"f{n}=v" for n in range(rng.choice([99, 150, 1000]))).encode()
    pairs = [(rng.choice(FIELDS), hostile(rng)) for _ in range(rng.randint(0, 6))]
    csrf = rng.random()
    if csrf < 0.5:
        pairs.append(("csrf", fuzz.csrf(visitor)))
    elif csrf < 0.8:
        pairs.append(("csrf", hostile(rng)))
    return urlencode(pairs, quote_via=quote, errors="surrogatepass").encode()


def hostile_cookies(fuzz: Fuzz, visitor: Visitor, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.7:
        return fuzz.cookies(visitor)
    names = [fuzz.cookie, fuzz.csrf_cookie, "hw_session", "x"]
    values: list[bytes] = [
        b"", b"\xff\xfe\xfd", "é".encode(), b"A" * 8000, b'"quoted"', b"a=b=c", b"\x00",
        visitor.token.encode()[:-1] + b"x", visitor.token.encode() + b"\xff", b"%41%42",
    ]  # fmt: skip
    if roll < 0.8:
        return rng.choice([b";;;=;", b"=", b"=x; =y", b"\xff", b" ; ", b"a" * 9000])
    parts = [rng.choice(names).encode() + b"=" + rng.choice(values) for _ in range(3)]
    if rng.random() < 0.5:
        parts.append(fuzz.cookies(visitor))
    return b"; ".join(parts)


def hostile_headers(fuzz: Fuzz, visitor: Visitor, rng: random.Random) -> list[tuple[bytes, bytes]]:
    def raw(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")

    headers = [(b"cookie", hostile_cookies(fuzz, visitor, rng))]
    if rng.random() < 0.2:
        headers.append((b"x-forwarded-for", raw(rng.choice(XFF))))
    if rng.random() < 0.1:
        headers.append((b"host", raw(rng.choice(HOSTS))))
    if rng.random() < 0.1:
        headers.append((b"x-forwarded-proto", raw(rng.choice(["https", "ftp", "", "https, http"]))))
    if rng.random() < 0.1:
        headers.append((b"x-forwarded-host", raw(rng.choice(HOSTS))))
    if rng.random() < 0.05:
        headers.append((b"user-agent", raw(rng.choice(["", "\xff", "U" * 5000, "curl/8"]))))
    if rng.random() < 0.05:
        headers.append(
            (
                b"range",
                raw(rng.choice(["bytes=0-1", "bytes=9-1", "bytes=x", "bytes=" + "0-1," * 300])),
            )
        )
    if rng.random() < 0.05:
        headers.append((b"if-modified-since", raw(rng.choice(["garbage", "\xff", ""]))))
    if rng.random() < 0.05:
        headers.append(
            (b"content-length", raw(rng.choice(["abc", "-1", "99999999999", "1", "9" * 5000])))
        )
    return headers


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def fuzz(
    clock: ManualClock, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Fuzz]:
    """The console behind a trusted proxy over each store; both users enrolled and logged in."""
    settings = base_settings(
        web=WebSettings(
            trusted_proxy=True, proxy_networks=["203.0.113.0/24"], secret_key=SecretStr(WEB_KEY)
        ),
        access=AccessSettings(rate_limit=0),
        lockout=LockoutSettings(
            password_max_failures=1000, totp_max_failures=1000, ip_max_failures=1_000_000
        ),
    )  # fmt: skip
    store = await make_store(request.param, tmp_path, request)
    console, core = await make_console(clock, settings, store)
    app: Starlette = console.client._transport.app  # type: ignore[attr-defined]
    alice = await core.accounts.get(USER)
    enrolment = await core.totp.begin_enrolment(alice)
    await core.totp.confirm_enrolment(alice, pyotp.TOTP(enrolment.secret).at(clock.now()))
    secrets = {
        "bot token": settings.telegram.token,
        "TOTP encryption key": settings.totp.encryption_key,
        "web secret key": settings.web.secret_key,
    }
    found = Fuzz(request.param, core, app, [])
    found.secrets = {name: s.get_secret_value() for name, s in secrets.items() if s is not None}
    found.secrets |= {
        "hidden environment value": "s3cr3t-value",  # the fake containers' API_TOKEN
        "secret in a container's log": "hunter2",
        "admin's TOTP secret": console.secrets[ADMIN],
        "user's TOTP secret": enrolment.secret,
        "admin's password": ADMIN_PASSWORD,
        "user's password": USER_PASSWORD,
    }
    for kind, username in (("anon", None), ("user", USER), ("admin", ADMIN)):
        transport = httpx.ASGITransport(app=app, client=(PEER, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="https://testserver")
        client.headers["user-agent"] = UA
        found.visitors.append(Visitor(kind, client, username))
    # The two logins go the real way once (password, then code).
    found.visitors[2].token = await _login(found, console, ADMIN, ADMIN_PASSWORD)
    console.secrets[USER] = enrolment.secret
    found.visitors[1].token = await _login(found, console, USER, USER_PASSWORD)
    yield found
    for visitor in found.visitors:
        await visitor.client.aclose()
    await console.client.aclose()
    await core.close()


async def _login(fuzz: Fuzz, console: Any, username: str, password: str) -> str:
    console.client.cookies.clear()
    first = await console.login(username, password)
    assert first.headers["location"] == "/login/code"
    done = await console.post(
        "/login/code", {"code": console.code(username), "next": "/"}, "/login/code"
    )
    assert done.status_code == 303, done.text
    token = str(console.client.cookies[fuzz.cookie])
    fuzz.tokens.add(token)
    console.client.cookies.clear()
    return token


async def test_every_route_survives_a_seeded_fuzz(fuzz: Fuzz) -> None:
    rng = random.Random(SEED)
    started = time.monotonic()
    templates = routes(fuzz.app)
    assert len(templates) >= 20
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    # Every route, GET and POST, as each visitor, with a valid token: the handlers run.
    for template, _ in templates:
        for method in ("GET", "POST"):
            for visitor in fuzz.visitors:
                await fuzz.heal(visitor)
                path, what = fill_parts(template, rng)
                # Confirmed, so that the actions behind confirmation pages run too.
                token, asked = fuzz.confirmation(visitor, what)
                fields = urlencode(
                    {"csrf": fuzz.csrf(visitor), "handle": "nope", "code": "123456",
                     "username": "x" + rng.choice("abcdef"), "password": "a long password ok",
                     "telegram_ids": "1, 2", "confirm": token, "asked": asked}
                ).encode()  # fmt: skip
                headers = [(b"cookie", fuzz.cookies(visitor)), *form]
                await fuzz.send(
                    visitor, method, path, headers, fields if method == "POST" else None,
                    route=template,
                )  # fmt: skip
    expected = {
        (t, m, v.kind) for t, _ in templates for m in ("GET", "POST") for v in fuzz.visitors
    }
    assert fuzz.covered >= expected
    # Then hostile requests.
    for _ in range(COUNT[fuzz.backend]):
        visitor = rng.choice(fuzz.visitors)
        method = rng.choice(METHODS)
        if rng.random() < 0.8:
            template, methods = rng.choice(templates)
            path = fill(template, rng)
            if rng.random() < 0.6:
                method = rng.choice(sorted(methods))
        else:
            template, path = "", rng.choice(HOSTILE_PATHS)
        headers = hostile_headers(fuzz, visitor, rng)
        body: bytes | None = None
        if method not in ("GET", "HEAD") or rng.random() < 0.05:
            body = form_body(fuzz, visitor, rng)
            kind = rng.choice(CONTENT_TYPES) if rng.random() < 0.3 else CONTENT_TYPES[0]
            if kind is not None:
                headers.append((b"content-type", kind.encode() if isinstance(kind, str) else kind))
        await fuzz.send(
            visitor, method, path + query(rng), headers, body, chunked=rng.random() < 0.1,
            route=template,
        )  # fmt: skip
    assert fuzz.sent >= COUNT[fuzz.backend] + len(expected)
    assert time.monotonic() - started < 60, "the fuzz got slow"
