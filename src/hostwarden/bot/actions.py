"""Which core action an update asks for. Matching is exact: a command is its whole first word.

The gate looks the action up here before any handler runs, so a handler can never be reached
through an update the policy was not asked about.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aiogram.types import Update

from hostwarden.core.identity import Role
from hostwarden.core.policy import ActionRule, Policy

MENU = "bot.menu"
SETUP = "getmyid"
VERIFY_CODE = "totp.verify"
UNKNOWN = "bot.unknown"

BOT_RULES = (
    ActionRule(MENU, Role.USER, description="the menu, help and plain chat"),
    ActionRule(SETUP, Role.USER, description="tell users their own Telegram ID"),
    ActionRule(VERIFY_CODE, Role.USER, description="answer a 2FA prompt"),
)

COMMAND_ACTIONS: dict[str, str] = {
    "start": MENU,
    "help": MENU,
    "menu": MENU,
    "cancel": MENU,
    "getmyid": SETUP,
    "status": "host.view",
    "cpu": "host.view",
    "memory": "host.view",
    "disks": "host.view",
    "network": "host.view",
    "processes": "host.view",
    "sensors": "host.view",
    "uptime": "host.view",
    "containers": "containers.view",
    "images": "containers.view",
    "container": "containers.inspect",
    "logs": "containers.logs",
    "up": "containers.manage",
    "down": "containers.manage",
    "restart": "containers.manage",
    "check_bot_updates": "updates.check",
    "enroll2fa": "totp.enroll",
    "audit": "admin.audit",
    "blocked": "admin.blocks",
    "unblock": "admin.blocks",
    "sessions": "admin.sessions",
    "revoke": "admin.sessions",
}

# Inline-keyboard views ("v:<name>") need what the command of the same name needs.
VIEW_ACTIONS: dict[str, str] = {
    "menu": MENU,
    "updates": COMMAND_ACTIONS["check_bot_updates"],
    **{
        view: COMMAND_ACTIONS[view]
        for view in ("status", "cpu", "memory", "disks", "network", "processes", "sensors",
                     "uptime", "containers", "images")
    },
}  # fmt: skip


def bot_policy(base: Policy | None = None) -> Policy:
    """The core's policy with the bot's own actions added."""
    return (base or Policy()).with_rules(*BOT_RULES)


def command_of(text: str | None) -> str | None:
    """``"/status@my_bot now"`` gives ``"status"``; text that is not a command gives ``None``."""
    if not text or not text.startswith("/"):
        return None
    word = text.split(maxsplit=1)[0][1:]
    return word.split("@", 1)[0] or None


def command_args(text: str | None) -> list[str]:
    """The words after the command."""
    return (text or "").split()[1:]


_SMALL_NUMBER = re.compile(r"[0-9]{1,6}")


def small_number(text: str | None, default: int, low: int, high: int) -> int | None:
    """``text`` as an int clamped to ``[low, high]``; ``default`` if absent; ``None`` if bad.

    Only ASCII digits, at most six: ``int()`` would take "²" or 5,000 digits and then fail.
    """
    if text is None:
        return default
    if not _SMALL_NUMBER.fullmatch(text):
        return None
    return max(low, min(int(text), high))


def action_for(
    update: Update,
    awaiting_code: bool,
    confirmation_action: Callable[[str], str | None],
) -> str:
    """The action ``update`` asks for; anything unrecognised is :data:`UNKNOWN` (denied)."""
    if update.message is not None:
        text = update.message.text
        command = command_of(text)
        if command is not None:
            return COMMAND_ACTIONS.get(command, MENU)  # unknown commands only get help
        if awaiting_code and text is not None:
            return VERIFY_CODE
        return MENU
    if update.edited_message is not None:
        return MENU  # edits are never re-run as commands; they reach no handler
    if update.callback_query is not None:
        return _callback_action(update.callback_query.data or "", confirmation_action)
    return UNKNOWN


def _callback_action(data: str, confirmation_action: Callable[[str], str | None]) -> str:
    prefix, _, rest = data.partition(":")
    if prefix == "v":
        return VIEW_ACTIONS.get(rest, UNKNOWN)
    if prefix == "cp":
        return "containers.view"
    if prefix in ("ok", "ub"):
        return confirmation_action(rest) or MENU
    if prefix == "no":
        return MENU
    return UNKNOWN
