"""Where alerts go: the admin chat(s) through the bot, and any Apprise targets.

Each ``send`` raises when delivery failed, so the core's dispatcher keeps the alert and retries.
"""

from __future__ import annotations

import apprise
from aiogram import Bot

from hostwarden.errors import ConfigError, Unavailable


class TelegramNotifier:
    """Sends alerts to every admin chat from the config."""

    def __init__(self, bot: Bot, chat_ids: list[int]) -> None:
        self._bot = bot
        self._chat_ids = list(chat_ids)

    async def send(self, text: str) -> None:
        for chat_id in self._chat_ids:
            await self._bot.send_message(chat_id, text, disable_notification=False)


class AppriseNotifier:
    """Sends alerts to Apprise URLs (mail, Slack, ntfy, webhooks, ...)."""

    def __init__(self, urls: list[str], title: str = "hostwarden") -> None:
        self._apprise = apprise.Apprise()
        for url in urls:
            if not self._apprise.add(url):
                raise ConfigError("telegram.apprise_urls: an Apprise URL was not understood")
        self._title = title

    async def send(self, text: str) -> None:
        delivered = await self._apprise.async_notify(
            body=text, title=self._title, body_format=apprise.NotifyFormat.HTML
        )
        if not delivered:
            raise Unavailable("an Apprise target did not accept the alert")
