"""A page view's access work is one store step: the session, its user, factor and decision.

On an SQLite file, where the step is a decision batch's transaction and none of the separate
calls a page view used to make (counted below) is made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hostwarden.core.clock import ManualClock
from hostwarden.storage.sql import SqlStore
from tests.web.conftest import ADMIN, ADMIN_PASSWORD, Console, make_console

# The separate calls a page view made before (core/viewing.py replaced them).
APART = [
    ("sessions", "touch"),
    ("users", "by_id"),
    ("totp", "get_factor"),
    ("decisions", "decide"),
]


@pytest.fixture
async def web(clock: ManualClock, tmp_path: Path) -> AsyncIterator[Console]:
    console, core = await make_console(clock, store=SqlStore(str(tmp_path / "hw.db")))
    yield console
    await console.client.aclose()
    await core.close()


def count_calls(web: Console, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    calls: Counter[str] = Counter()
    store: Any = web.core.store

    def counted(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return await method(*args, **kwargs)

        return call

    for part, method in [*APART, ("views", "view")]:
        target = getattr(store, part)
        name = f"{part}.{method}"
        monkeypatch.setattr(target, method, counted(name, getattr(target, method)))
    return calls


async def test_a_page_view_is_one_store_step(web: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    await web.login_admin()
    calls = count_calls(web, monkeypatch)
    response = await web.client.get("/account")
    assert response.status_code == 200 and 'id="new-recovery"' in response.text  # enrolled
    # The page's own read of the factor came with the session too.
    assert calls == Counter({"views.view": 1})


async def test_a_half_logged_in_view_and_a_revoked_one(
    web: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = await web.login(ADMIN, ADMIN_PASSWORD)
    calls = count_calls(web, monkeypatch)
    owed = await web.client.get("/account")
    assert owed.status_code == 303 and owed.headers["location"].startswith("/login/code")
    assert calls == Counter({"views.view": 1})  # no decision: the code is owed first
    admin = await web.core.store.users.get(ADMIN)
    await web.core.sessions.revoke_user(admin.id, "user:test")
    gone = await web.client.get("/account")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login?")
    assert response.status_code == 303
