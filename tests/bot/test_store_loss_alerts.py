"""The bot tells the admin chat straight away when the store is lost, and when it is back.

The outbox lives in the store, so these alerts bypass it (core.health.StoreLossAlerts wired in
BotApp); the store-side detection is tested in tests/contract/test_store_loss.py.
"""

from __future__ import annotations

from tests.bot.conftest import ADMIN_CHAT, Harness


async def test_a_lost_store_reaches_the_admin_chat_without_the_outbox(harness: Harness) -> None:
    harness.session.clear()
    harness.core.health.failed("the database file /data/hostwarden.db is missing")
    harness.core.health.failed("the same outage, again")  # one alert per outage
    await harness.app.store_alerts.drain()
    [alert] = harness.session.texts(ADMIN_CHAT)
    assert alert.startswith("<b>Store unavailable</b>") and "hostwarden.db is missing" in alert
    assert await harness.admin_chat() == []  # nothing was queued in the outbox as well

    harness.session.clear()
    harness.core.health.ok()
    await harness.app.store_alerts.drain()
    [back] = harness.session.texts(ADMIN_CHAT)
    assert back.startswith("<b>Store is back</b>")
