"""Limits hold under parallel requests from two processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyotp
import pytest

from hostwarden.core.accounts import LOGIN_FAILED
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Role
from hostwarden.core.secretbox import generate_key
from hostwarden.core.service import AccessCore
from hostwarden.storage.base import AuditQuery
from tests.contract.race_worker import MAX_ATTEMPTS, RATE_LIMIT, attack, settings

PW = "correct horse battery"
VICTIM_TELEGRAM_ID = 4242
STRANGER_TELEGRAM_ID = 666_000_111


@pytest.fixture(params=["sqlite", "postgres"])
async def prepared(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    from tests.conftest import make_store

    store = await make_store(request.param, tmp_path, request)
    url = store.db.url
    key = generate_key()
    clock = ManualClock()
    core = AccessCore(store, settings(key), clock)
    await core.start()
    user = await core.accounts.register(
        "victim", PW, frozenset({Role.ADMIN}), (VICTIM_TELEGRAM_ID,)
    )
    secret = (await core.totp.begin_enrolment(user)).secret
    totp = pyotp.TOTP(secret)
    await core.totp.confirm_enrolment(user, totp.at(clock.now()))
    clock.advance(90)  # a later step, so the enrolment code is not the one raced for
    yield core, url, key, clock, totp
    await core.close()


def race(url: str, key: str, clock: ManualClock, mode: str, value: str, tries: int) -> list[str]:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(2)
        with ProcessPoolExecutor(2, mp_context=context) as pool:
            when = clock.now().isoformat()
            futures = [
                pool.submit(attack, url, key, when, mode, value, tries, barrier) for _ in range(2)
            ]
            return [r for f in futures for r in f.result(timeout=300)]


async def events(core: AccessCore, kind: str) -> int:
    return len(await core.audit.query(AuditQuery(kind=kind, limit=10_000)))


async def test_wrong_passwords_pass_the_limit_at_most_five_times(prepared: Any) -> None:
    core, url, key, clock, _ = prepared
    results = race(url, key, clock, "password", "wrong password!", 100)
    assert len(results) == 200
    assert set(results) == {f"False:{LOGIN_FAILED}"}
    assert await events(core, Kind.LOGIN_FAILED) == 5
    assert await events(core, Kind.LOGIN_REFUSED) == 195
    assert not (await core.accounts.login("victim", PW)).ok  # blocked now


async def test_wrong_totp_codes_pass_the_limit_at_most_five_times(prepared: Any) -> None:
    core, url, key, clock, totp = prepared
    wrong = "000000" if totp.at(clock.now()) != "000000" else "111111"
    results = race(url, key, clock, "totp", wrong, 100)
    assert len(results) == 200 and "accepted" not in results
    assert await events(core, Kind.TOTP_FAILED) == 5
    assert Counter(results)["invalid"] == 4  # the fifth failure reports the block


async def test_a_valid_code_is_accepted_exactly_once(prepared: Any) -> None:
    core, url, key, clock, totp = prepared
    before = await events(core, Kind.TOTP_SUCCEEDED)  # the enrolment's own first code
    results = race(url, key, clock, "totp", totp.at(clock.now()), 10)
    assert Counter(results)["accepted"] == 1
    assert await events(core, Kind.TOTP_SUCCEEDED) == before + 1
    assert await events(core, Kind.TOTP_REPLAYED) + await events(core, Kind.TOTP_REFUSED) == 19


async def test_a_stranger_is_counted_exactly_max_attempts_times_then_blocked_once(
    prepared: Any,
) -> None:
    core, url, key, clock, _ = prepared
    results = race(url, key, clock, "stranger", str(STRANGER_TELEGRAM_ID), 100)
    assert len(results) == 200
    tally = Counter(results)
    assert tally["drop:blocked now"] == 1
    assert tally["drop:unknown"] == MAX_ATTEMPTS - 1
    assert tally["drop:blocked"] == 200 - MAX_ATTEMPTS
    assert await events(core, Kind.ACCESS_UNKNOWN) == MAX_ATTEMPTS
    [created] = await core.audit.query(AuditQuery(kind=Kind.BLOCK_CREATED))
    assert created.subject == f"tg:{STRANGER_TELEGRAM_ID}"
    assert [b.key for b in await core.lockout.list_blocks()] == [created.subject]


async def test_a_known_user_gets_exactly_rate_limit_requests_in_a_window(prepared: Any) -> None:
    core, url, key, clock, _ = prepared
    results = race(url, key, clock, "rate", str(VICTIM_TELEGRAM_ID), 100)
    tally = Counter(results)
    assert tally == {"allow:allowed": RATE_LIMIT, "drop:rate": 200 - RATE_LIMIT}
    assert await events(core, Kind.ACCESS_THROTTLED) == 1  # once per window, not per request
    assert await core.lockout.list_blocks() == []  # slowed, never blocked
