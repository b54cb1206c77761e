"""An offline Telegram: a local Bot API server for the bot, and a user-side API to chat as anyone.

The bot talks to it with aiogram's real HTTP client (``telegram.api_base``); tests and
``hostwarden demo`` act as users through :mod:`hostwarden.sandbox.client`.
"""
