"""Runs in a child process: hammers one account (or one stranger) through a core of its own."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore, CoreSettings
from hostwarden.core.settings import AccessSettings, LockoutSettings, TotpSettings
from hostwarden.storage.sql import SqlStore

MAX_ATTEMPTS = 3
RATE_LIMIT = 20


def settings(key: str) -> CoreSettings:
    return CoreSettings(
        access=AccessSettings(max_attempts=MAX_ATTEMPTS, rate_limit=RATE_LIMIT),
        lockout=LockoutSettings(password_max_failures=5, totp_max_failures=5),
        totp=TotpSettings(encryption_key=SecretStr(key)),
    )


async def _attack(
    url: str, key: str, when: str, mode: str, value: str, tries: int, barrier: Any
) -> list[str]:
    core = AccessCore(
        SqlStore(url, pool_size=10), settings(key), ManualClock(datetime.fromisoformat(when))
    )
    try:
        user = await core.store.users.get("victim")
        assert user is not None
        await asyncio.to_thread(barrier.wait)
        if mode == "password":
            results = await asyncio.gather(
                *(core.accounts.login("victim", value, "203.0.113.9", "bot") for _ in range(tries))
            )
            return [f"{r.ok}:{r.message}" for r in results]
        if mode in ("stranger", "rate"):  # value: the Telegram ID of a stranger or of the user
            actor = Actor(telegram_id=int(value))
            decisions = await asyncio.gather(
                *(core.guard.decide(actor, "host.view") for _ in range(tries))
            )
            return [f"{d.verdict.value}:{d.reason}" for d in decisions]
        actor = Actor(telegram_id=user.telegram_ids[0])
        outcomes = await asyncio.gather(
            *(core.guard.submit_totp(actor, value) for _ in range(tries))
        )
        return [o.value for o in outcomes]
    finally:
        await core.close()


def attack(
    url: str, key: str, when: str, mode: str, value: str, tries: int, barrier: Any
) -> list[str]:
    """Entry point for the process pool."""
    return asyncio.run(_attack(url, key, when, mode, value, tries, barrier))
