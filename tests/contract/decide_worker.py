"""Runs in a child process: a core of its own on a shared database, deciding when asked.

:func:`serve` sends ``READY``, then for each Telegram ID it receives answers ``verdict:reason``
of one ``host.view`` decision; ``None`` ends it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from multiprocessing.connection import Connection

from pydantic import SecretStr

from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.secretbox import generate_key
from hostwarden.core.service import AccessCore, CoreSettings
from hostwarden.core.settings import AccessSettings, TotpSettings
from hostwarden.storage.sql import SqlStore

ALLOWED_BY_CONFIG = 777_000_001


def settings() -> CoreSettings:
    return CoreSettings(
        access=AccessSettings(max_attempts=100, allowed_telegram_ids=[ALLOWED_BY_CONFIG]),
        totp=TotpSettings(encryption_key=SecretStr(generate_key())),
    )


async def _serve(url: str, when: str, pipe: Connection) -> None:
    core = AccessCore(SqlStore(url), settings(), ManualClock(datetime.fromisoformat(when)))
    await core.start()
    try:
        pipe.send("READY")
        while (telegram_id := await asyncio.to_thread(pipe.recv)) is not None:
            decision = await core.guard.decide(Actor(telegram_id=telegram_id), "host.view")
            pipe.send(f"{decision.verdict.value}:{decision.reason}")
    finally:
        await core.close()


def serve(url: str, when: str, pipe: Connection) -> None:
    """Entry point of the child process."""
    asyncio.run(_serve(url, when, pipe))
