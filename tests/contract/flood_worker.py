"""Runs in a child process: a guard flood of strangers on one SQLite file, until it is killed.

:func:`run` sends ``READY``, then one message per fact the caller may rely on, each sent at once:

- ``BLOCK <key>`` when a decision returned having made a new block (the attempt that blocked);
- ``EVENT <id>`` for every audit event the store acknowledged (its log line is written only
  after the store committed it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from multiprocessing.connection import Connection

from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore, CoreSettings
from hostwarden.core.settings import AccessSettings
from hostwarden.storage.sql import SqlStore

MAX_ATTEMPTS = 2
WAVE = 20  # strangers at once, each trying MAX_ATTEMPTS times in parallel


class Acknowledged(logging.Handler):
    """Reports the id of every audit event as its log line is written."""

    def __init__(self, report: Connection) -> None:
        super().__init__()
        self._report = report

    def emit(self, record: logging.LogRecord) -> None:
        self._report.send(f"EVENT {json.loads(record.getMessage())['id']}")


async def _decide(core: AccessCore, telegram_id: int, report: Connection) -> None:
    decision = await core.guard.decide(Actor(telegram_id=telegram_id), "host.view")
    if decision.reason == "blocked now":
        report.send(f"BLOCK tg:{telegram_id}")


async def _flood(path: str, when: str, first_id: int, report: Connection) -> None:
    audit = logging.getLogger("hostwarden.audit")
    audit.addHandler(Acknowledged(report))
    audit.setLevel(logging.INFO)
    audit.propagate = False
    settings = CoreSettings(access=AccessSettings(max_attempts=MAX_ATTEMPTS))
    core = AccessCore(SqlStore(path), settings, ManualClock(datetime.fromisoformat(when)))
    await core.start()
    report.send("READY")
    for wave in range(first_id, first_id + 1_000_000, WAVE):
        await asyncio.gather(
            *(
                _decide(core, n, report)
                for n in range(wave, wave + WAVE)
                for _ in range(MAX_ATTEMPTS)
            )
        )


def run(path: str, when: str, first_id: int, report: Connection) -> None:
    """Entry point for the child process; it never returns on its own."""
    asyncio.run(_flood(path, when, first_id, report))
