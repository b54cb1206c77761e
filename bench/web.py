"""The web console: authenticated page views, session validations, and audit pages over 1M events.

    uv run python -m bench.web [--n 500] [--events 1000000] [--backends sqlite,postgres]

Page views go through the whole app (security headers, session cookie validated against the
store with its IP and browser binding, the guard, Jinja2) via httpx's ASGI transport, so they
measure the console, not a network. The audit table is filled with a bulk insert, then the
first page and the 1,000th page (keyset: ``before`` = the last id of page 999) are timed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
from sqlalchemy import insert
from tests.web.conftest import ADMIN, ADMIN_PASSWORD, UA, web_settings

from bench.common import Backends, median, table
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Role
from hostwarden.core.service import AccessCore
from hostwarden.storage.sql import tables
from hostwarden.web.actions import web_policy
from hostwarden.web.app import create_app

PAGE = 50


async def fill_audit(store: object, events: int) -> int:
    """Bulk-insert ``events`` audit rows; returns the highest id."""
    db = store.db  # type: ignore[attr-defined]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = 20_000
    for offset in range(0, events, batch):
        rows = [
            {
                "at": start + timedelta(seconds=i),
                "kind": "access.unknown",
                "actor": f"tg:{1_000_000 + i % 5000}",
                "subject": "",
                "detail": {"action": "host.view", "attempt": 1},
            }
            for i in range(offset, min(offset + batch, events))
        ]
        async with db.write() as conn:
            await conn.execute(insert(tables.audit_events), rows)
    return events


async def timed_get(client: httpx.AsyncClient, path: str, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = await client.get(path)
        samples.append(time.perf_counter() - began)
        assert response.status_code == 200, (path, response.status_code)
    return median(samples)


async def measure(backends: Backends, backend: str, n: int, events: int) -> list[object]:
    clock = ManualClock()
    settings = web_settings()
    store = await backends.store(backend)
    core = AccessCore(store, settings.core(), clock, web_policy())
    await core.start()
    admin = await core.accounts.register(ADMIN, ADMIN_PASSWORD, frozenset({Role.ADMIN, Role.USER}))
    enrolment = await core.totp.begin_enrolment(admin)
    await core.totp.confirm_enrolment(admin, pyotp.TOTP(enrolment.secret).at(clock.now()))
    login = await core.accounts.login(ADMIN, ADMIN_PASSWORD, "203.0.113.5", UA)
    assert login.session is not None
    session = await core.sessions.rotate(login.session.token, mfa=True)
    assert session is not None
    transport = httpx.ASGITransport(app=create_app(core, settings), client=("203.0.113.5", 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers={"user-agent": UA},
        cookies={"__Host-hw_session": session.token},
    ) as client:  # fmt: skip
        await timed_get(client, "/account", 3)
        began = time.perf_counter()
        for _ in range(n):
            clock.advance(0.5)  # within the per-user rate limit
            assert (await client.get("/account")).status_code == 200
        views = n / (time.perf_counter() - began)

        began = time.perf_counter()
        for _ in range(n * 4):
            assert await core.sessions.validate(session.token, "203.0.113.5", UA) is not None
        validations = n * 4 / (time.perf_counter() - began)

        filled = time.perf_counter()
        top = await fill_audit(store, events)
        fill_seconds = time.perf_counter() - filled
        first = await timed_get(client, "/audit")
        before = top - 999 * PAGE + 1  # keyset: the last id shown on page 999
        thousandth = await timed_get(client, f"/audit?before={before}")
        filtered = await timed_get(client, f"/audit?kind=access.unknown&before={before}")
    await core.close()
    ms = [f"{seconds * 1000:.1f}" for seconds in (first, thousandth, filtered)]
    filled_text = f"{events:,} in {fill_seconds:,.0f} s"
    return [backend, f"{views:,.0f}", f"{validations:,.0f}", filled_text, *ms]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    backends = Backends()
    try:
        rows = [
            await measure(backends, name, args.n, args.events) for name in args.backends.split(",")
        ]
    finally:
        backends.close()
    print(f"{args.n:,} page views of /account, {args.n * 4:,} session validations, one client\n")
    print(table(["backend", "page views/s", "session validations/s", "audit events",
                 "audit page 1 ms", "page 1,000 ms", "page 1,000 by kind ms"], rows))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
