"""What admins asked for after using the console: identities, landing, next, 429, questions,
the audit page, /settings, and the look."""

from __future__ import annotations

import html
import json
import logging
import re

import pytest
from pydantic import SecretStr

from hostwarden.config import TelegramSettings, WebhookSettings
from hostwarden.core.audit import ALL_KINDS, Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.settings import AccessSettings
from hostwarden.storage.base import AuditQuery
from hostwarden.web.labels import KIND_LABELS, kind_label
from hostwarden.web.settings import WebSettings
from tests.web.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    USER,
    USER_PASSWORD,
    Console,
    make_console,
    web_settings,
)

STRANGER = Actor(telegram_id=555123456, username="mallory")


async def revealed(web: Console) -> int:
    return len(await web.core.audit.query(AuditQuery(kind=Kind.IDENTITY_REVEALED)))


async def test_after_a_code_admin_pages_show_full_identities_audited_once_per_session(
    web: Console, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        await web.core.guard.decide(STRANGER, "host.view")
    await web.core.accounts.update(
        await web.core.accounts.get(USER), "test", telegram_ids=(424242,)
    )
    await web.login_admin()
    caplog.set_level(logging.INFO, logger="hostwarden.audit")
    for path in ("/", "/blocks", "/audit", "/users", "/users/alice", "/sessions"):
        page = await web.client.get(path)
        assert "Full names and IDs are shown" in page.text, path
    assert "tg:555123456" in (await web.client.get("/")).text
    assert "424242" in (await web.client.get("/users")).text
    assert await revealed(web) == 1
    [event] = await web.core.audit.query(AuditQuery(kind=Kind.IDENTITY_REVEALED))
    session = web.core.sessions
    [record] = await session.list()
    assert event.actor == f"user:{ADMIN}" and event.detail == {
        "session": record.handle,
        "page": "/",
    }
    # The log line, the exports and the audit trail's own lines stay masked.
    assert '"event": "identity.revealed"' in caplog.text and '"actor": "user:****"' in caplog.text
    assert f"user:{ADMIN}" not in caplog.text and "555123456" not in caplog.text
    export = (await web.client.get("/audit.jsonl")).text
    assert "555123456" not in export and "tg:55*****56" in export

    web.clock.advance(601)  # no longer fresh: masked again, with a way to step up
    page = await web.client.get("/")
    assert "tg:55*****56" in page.text and "555123456" not in page.text
    assert 'href="/login/code?next=/" id="reveal"' in page.text
    done = await web.post("/login/code", {"code": web.code(ADMIN), "next": "/"}, "/login/code")
    assert done.headers["location"] == "/"
    assert "tg:555123456" in (await web.client.get("/")).text
    assert await revealed(web) == 2  # a new session ID after the code: its first reveal


async def test_the_reveal_is_recorded_once_even_across_console_processes(
    web: Console, clock: ManualClock
) -> None:
    await web.login_admin()
    await web.client.get("/blocks")
    # A second console over the same store (another process, or a restart) with this cookie.
    other, core = await make_console(clock)
    await core.close()
    app = other.client._transport.app  # type: ignore[attr-defined]
    app.state.console.core = web.core
    app.state.console.identities._core = web.core
    other.client.cookies = web.client.cookies
    assert (await other.client.get("/blocks")).status_code == 200
    assert await revealed(web) == 1
    await other.client.aclose()


async def test_users_never_see_full_identities_and_their_log_in_lands_on_their_account(
    web: Console,
) -> None:
    response = await web.login(USER, USER_PASSWORD)
    assert response.headers["location"] == "/"
    landing = await web.client.get("/")
    assert landing.status_code == 303 and landing.headers["location"] == "/account"
    assert (await web.client.get("/account")).status_code == 200
    assert "Full names" not in (await web.client.get("/sessions")).text
    assert await revealed(web) == 0


async def test_login_returns_to_the_page_asked_for_local_paths_only(web: Console) -> None:
    asked = await web.client.get("/containers?q=web")
    assert asked.headers["location"] == "/login?next=/containers%3Fq%3Dweb"
    form = await web.client.get("/login?next=/sessions")
    assert '<input type="hidden" name="next" value="/sessions">' in form.text
    user = await web.post("/login", {"username": USER, "password": USER_PASSWORD,
                                     "next": "/sessions"}, "/login?next=/sessions")  # fmt: skip
    assert user.headers["location"] == "/sessions"
    web.client.cookies.clear()
    admin = await web.post("/login", {"username": ADMIN, "password": ADMIN_PASSWORD,
                                      "next": "/containers?q=web"}, "/login")  # fmt: skip
    assert admin.headers["location"] == "/login/code?next=/containers%3Fq%3Dweb"
    code_page = await web.client.get(admin.headers["location"])
    assert 'name="next" value="/containers?q=web"' in code_page.text
    done = await web.post_from(code_page, "/login/code",
                               {"code": web.code(ADMIN), "next": "/containers?q=web"})  # fmt: skip
    assert done.headers["location"] == "/containers?q=web"
    for evil in ("//evil.example", "https://evil.example/", "/\\evil.example", "javascript:x"):
        web.client.cookies.clear()
        page = await web.client.get("/login", params={"next": evil})
        assert 'name="next" value="/"' in page.text, evil
        sent = await web.post("/login", {"username": USER, "password": USER_PASSWORD,
                                         "next": evil}, "/login")  # fmt: skip
        assert sent.headers["location"] == "/", evil


async def test_over_the_rate_limit_a_429_says_to_slow_down_and_when(clock: ManualClock) -> None:
    settings = web_settings(access=AccessSettings(rate_limit=5, rate_window_seconds=10))
    web, core = await make_console(clock, settings)
    await web.login(USER, USER_PASSWORD)
    statuses = [(await web.client.get("/host")).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    slow = await web.client.get("/containers")
    assert slow.status_code == 429 and slow.headers["retry-after"] == "10"
    assert "Slow down" in slow.text and "Wait 10 seconds" in slow.text
    assert "Access denied" not in slow.text
    assert "script-src 'none'" in slow.headers["content-security-policy"]
    clock.advance(11)
    assert (await web.client.get("/host")).status_code == 200
    [throttled] = await core.audit.query(AuditQuery(kind=Kind.ACCESS_THROTTLED))
    assert throttled.actor == f"user:{USER}"
    await web.client.aclose()
    await core.close()


@pytest.mark.parametrize(
    ("op", "question"),
    [("lock", "Lock user alice?"), ("unlock", "Unlock user alice?"),
     ("totp-reset", "Reset the second factor of alice?"),
     ("sessions", "End every session of alice?")],
)  # fmt: skip
async def test_lock_unlock_reset_and_revoke_ask_first(web: Console, op: str, question: str) -> None:
    alice = await web.core.accounts.get(USER)
    await web.core.accounts.login(USER, USER_PASSWORD, "198.51.100.1", "other")
    await web.login_admin()
    page = await web.client.get(f"/users/alice/{op}")
    assert page.status_code == 200 and question in page.text
    before = len(await web.core.audit.query(AuditQuery(limit=1000)))
    posted = await web.post(f"/users/alice/{op}", {}, "/users/alice")
    assert question in posted.text  # a POST that did not come from the question only asks
    after = await web.core.audit.query(AuditQuery(limit=1000))
    changed = {e.kind for e in after[: len(after) - before]}
    assert changed <= {Kind.ACCESS_GRANTED, Kind.IDENTITY_REVEALED}, changed
    done = await web.confirm(f"/users/alice/{op}")
    assert done.status_code == 303
    if op == "lock":
        assert (await web.core.accounts.get(USER)).locked
    if op == "sessions":
        assert await web.core.sessions.list(alice.id) == []


async def test_the_audit_page_hides_my_own_page_views_and_reads_in_labels(web: Console) -> None:
    await web.core.audit.record(Kind.ACCESS_GRANTED, actor="tg:42", action="host.view")
    await web.login(USER, "wrong password")
    await web.login_admin()
    for path in ("/", "/users", "/blocks", "/settings") * 20:
        await web.client.get(path)
    page = await web.client.get("/audit")
    rows = re.findall(r'<td title="([a-z._]+)">([^<]+)</td><td>([^<]*)</td>', page.text)
    granted = [(kind, actor) for kind, _, actor in rows if kind == Kind.ACCESS_GRANTED]
    assert granted == [("access.granted", "tg:42")]  # someone else's stay
    assert ("login.failed", "Wrong password") in {(k, label) for k, label, _ in rows}
    assert 'id="hidden-own"' in page.text
    mine = await web.client.get("/audit?mine=1")
    assert mine.text.count(f'<td title="access.granted">Access granted</td><td>user:{ADMIN}') > 40
    chosen = await web.client.get("/audit?kind=access.granted")
    assert f"<td>user:{ADMIN}</td>" in chosen.text
    assert '<option value="login.failed">Wrong password</option>' in page.text


async def test_audit_pages_fill_past_many_of_my_own_events(web: Console) -> None:
    for n in range(120):
        await web.core.audit.record(Kind.ADMIN_ACTION, actor="user:bulk", action=f"n{n}")
    for _ in range(450):  # newer than all of them: my own page views
        await web.core.audit.record(Kind.ACCESS_GRANTED, actor=f"user:{ADMIN}", action="x")
    await web.login_admin()
    first = (await web.client.get("/audit?actor=")).text
    shown = [int(n) for n in re.findall(r"action=n(\d+)", first)]
    assert first.count("<tr><td>") == 50  # a full page: my login's events and 48 of theirs
    assert shown == list(range(119, 119 - len(shown), -1)) and len(shown) == 48
    older = re.search(r'href="/audit\?([^"]+)" id="older"', first)
    assert older is not None
    second = (await web.client.get("/audit?" + html.unescape(older.group(1)))).text
    assert [int(n) for n in re.findall(r"action=n(\d+)", second)][:2] == [71, 70]


def test_every_audit_kind_has_a_readable_label() -> None:
    labels = [kind_label(kind) for kind in ALL_KINDS]
    assert all(label[0].isupper() or label[0].isdigit() for label in labels)
    assert not [label for label in labels if "." in label or "_" in label]
    assert set(KIND_LABELS) <= set(ALL_KINDS)  # no label for a kind that does not exist
    assert kind_label("container.oom_killed") == "Container oom killed"  # a kind added later


async def test_settings_show_no_python_repr_and_no_secret(clock: ManualClock) -> None:
    secrets = {
        "path": "p" * 32, "token": "t" * 32, "web": "w" * 40,
        "apprise": "tgram://123456:ABCDEF/999", "db": "postgresql://hw:dbpass123@db/hw",
    }  # fmt: skip
    settings = web_settings(
        telegram=TelegramSettings(
            token=SecretStr("123456:" + "S" * 35),
            mode="webhook",
            webhook=WebhookSettings(url="https://bot.example.com", path_secret=SecretStr(
                secrets["path"]), secret_token=SecretStr(secrets["token"])),
            apprise_urls=[secrets["apprise"]],
        ),
        web=WebSettings(secret_key=SecretStr(secrets["web"])),
        storage={"url": secrets["db"]},
    )  # fmt: skip
    web, core = await make_console(clock, settings)
    await web.login_admin()
    page = (await web.client.get("/settings")).text
    values = dict(re.findall(r"<tr><th>([^<]+)</th><td><code>([^<]*)</code>", page))
    for bad in ("SecretStr", "**********", "None", "[", "{", "Url(", "object at"):
        assert not [k for k, v in values.items() if bad in v], bad
    assert values["webhook.path_secret"] == values["webhook.secret_token"] == "(hidden)"
    assert values["apprise_urls"] == "(1 hidden)" and values["url"] in ("(hidden)",)
    assert values["api_base"] == "(not set)" and values["admin_chat_ids"] == "(none)"
    assert values["env_allow_list"].startswith("PATH, TZ")
    assert values["registries"] == "docker.io: https://registry-1.docker.io"
    assert values["plain_http"] == "false"
    assert not [s for s in (*secrets.values(), "dbpass123") if s in page]
    assert json.dumps(values)  # plain strings all the way
    await web.client.aclose()
    await core.close()


async def test_the_look_menu_mark_login_card_product_name_and_favicon(web: Console) -> None:
    login = await web.client.get("/login")
    assert '<p class="product">' in login.text and "hostwarden</p>" in login.text
    assert 'maxlength="200" value="" autofocus>' in login.text  # the empty name field focused
    failed = await web.login(ADMIN, "wrong password!")
    card = failed.text.split('<div class="card narrow">', 1)[1]
    assert card.index('id="error"') < card.index("</div>")  # the error inside the card
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in login.text
    icon = await web.client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert "<script" not in icon.text and "nosniff" in icon.headers["x-content-type-options"]
    await web.login_admin()
    for path, label in (("/audit", "Audit"), ("/containers/web", "Containers"), ("/", "Dashboard")):
        page = (await web.client.get(path)).text
        marked = re.findall(r'<a href="[^"]+" aria-current="page">([^<]+)</a>', page)
        assert marked == [label], path
    assert "button" in (await web.client.get("/static/style.css")).text


async def test_every_new_page_has_the_security_headers(web: Console) -> None:
    await web.login_admin()
    paths = ["/host", "/containers", "/containers/web", "/containers/web?page=2", "/images",
             "/containers/web/restart", "/sessions/revoke?handle=%2A", "/users/alice/lock",
             "/containers/nosuch", "/static/favicon.svg"]  # fmt: skip
    for path in paths:
        response = await web.client.get(path)
        assert response.status_code in (200, 404), path
        csp = response.headers["content-security-policy"]
        assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["cache-control"] == "no-store", path
        assert "<script" not in response.text, path
