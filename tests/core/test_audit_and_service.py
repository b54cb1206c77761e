"""Audit lines are masked JSON; the store keeps full identities; housekeeping runs periodically."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from hostwarden.core.audit import ALL_KINDS, Kind
from hostwarden.core.clock import ManualClock
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore
from hostwarden.storage.base import AuditQuery


async def test_log_line_is_masked_json_and_store_is_full(
    core: AccessCore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hostwarden.audit")
    await core.guard.decide(Actor(telegram_id=987654321, username="eavesdropper"), "host.view")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "hostwarden.audit"]
    unknown = next(line for line in lines if line["event"] == Kind.ACCESS_UNKNOWN)
    assert unknown["actor"] == "tg:98*****21"
    assert "987654321" not in caplog.text
    stored = await core.audit.query(AuditQuery(kind=Kind.ACCESS_UNKNOWN))
    assert stored[0].actor == "tg:987654321"


def test_vocabulary_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "audit.md").read_text()
    missing = sorted(kind for kind in ALL_KINDS if f"`{kind}`" not in doc)
    assert missing == []


async def test_unknown_kinds_are_refused(core: AccessCore) -> None:
    with pytest.raises(ValueError, match="unknown audit kind"):
        await core.audit.record("made.up")


def test_masked_refs() -> None:
    from hostwarden.core.audit import masked_ref

    assert masked_ref("ip:203.0.113.9") == "ip:203.0.113.*"
    assert masked_ref("user:johndoe_admin") == "user:joh*******min"
    assert masked_ref("tg:123456789") == "tg:12*****89"


async def test_maintenance_runs_until_stopped(core: AccessCore, clock: ManualClock) -> None:
    await core.sessions.create(1, None, None)
    stop = asyncio.Event()
    naps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        naps.append(seconds)
        clock.advance(seconds * 10)  # time passes; sessions expire
        if len(naps) == 3:
            stop.set()

    rounds = await core.maintain_forever(stop, fake_sleep)
    assert rounds == 2 and naps == [300, 300, 300]
    assert await core.sessions.list() == []


async def test_failed_delivery_is_audited_as_an_error(core: AccessCore) -> None:
    class Down:
        name = "telegram:123456789"

        async def send(self, text: str) -> None:
            raise ConnectionError

    await core.guard.decide(Actor(telegram_id=123123123), "host.view")
    assert await core.dispatcher([Down()]).deliver_due() == 0
    errors = await core.audit.query(AuditQuery(kind=Kind.ERROR))
    assert errors and errors[0].detail["where"] == "alert delivery"
    assert errors[0].detail["recipient"] == "telegram:12*****89"
