"""Where alerts go: each admin chat through the bot, and each Apprise target.

Every notifier is one recipient with a ``name`` the outbox tracks its deliveries by. Each
``send`` raises when delivery failed, so the core's dispatcher keeps the alert for that recipient
alone and retries it.
"""

from __future__ import annotations

import apprise
from aiogram import Bot

from hostwarden.errors import ConfigError, Unavailable


class TelegramNotifier:
    """Sends alerts to one admin chat; named ``telegram:<chat id>`` (logs mask the ID)."""

    def __init__(self, bot: Bot, chat_id: int) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self.name = f"telegram:{chat_id}"

    async def send(self, text: str) -> None:
        """Send ``text`` (Telegram HTML); raises when Telegram refuses or cannot be reached."""
        await self._bot.send_message(self._chat_id, text, disable_notification=False)


class AppriseNotifier:
    """Sends alerts to one Apprise URL (mail, Slack, ntfy, webhooks, ...).

    It is named ``apprise:<number>``, its place in ``telegram.apprise_urls`` counted from 1:
    never by its URL, which may hold a password or token.
    """

    def __init__(self, url: str, number: int = 1, title: str = "hostwarden") -> None:
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ConfigError(f"telegram.apprise_urls: Apprise URL number {number} not understood")
        self.name = f"apprise:{number}"
        self._title = title

    async def send(self, text: str) -> None:
        """Send ``text`` as HTML; raises :class:`Unavailable` when the target did not accept it."""
        delivered = await self._apprise.async_notify(
            body=text, title=self._title, body_format=apprise.NotifyFormat.HTML
        )
        if not delivered:
            raise Unavailable(f"Apprise target {self.name} did not accept the alert")
