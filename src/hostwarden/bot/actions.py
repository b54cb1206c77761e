"""The bot's action vocabulary: which core action each command and button asks for.

:mod:`hostwarden.bot.reading` turns an update into one of these, once, in the gate.
"""

from __future__ import annotations

import re

from hostwarden.core.identity import Role
from hostwarden.core.policy import CLAIM, ActionRule, Policy

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
    "claim": CLAIM,
    "status": "host.view",
    "cpu": "host.view",
    "memory": "host.view",
    "disks": "host.view",
    "network": "host.view",
    "processes": "host.view",
    "sensors": "host.view",
    "uptime": "host.view",
    "hosts": "host.view",
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
                     "uptime", "containers", "images", "hosts")
    },
}  # fmt: skip


def bot_policy(base: Policy | None = None) -> Policy:
    """The core's policy with the bot's own actions added."""
    return (base or Policy()).with_rules(*BOT_RULES)


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
