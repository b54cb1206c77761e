"""The Telegram front end: aiogram 3 over hostwarden's core. Every update passes one gate."""
