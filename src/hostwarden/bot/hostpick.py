"""The host a chat acts on, and the picker that chooses it.

The choice lives in the chat's FSM data under a destiny of its own (:data:`DESTINY`), so ending a
2FA challenge (which clears the chat's state) keeps it; in a group each member has their own, as
aiogram keys FSM data. The bot's storage keeps that destiny as a lasting record
(:class:`~hostwarden.bot.fsm_storage.StoreStorage`), not with a conversation's two-hour deadline:
a pick never falls back to the default host by itself while the chat is in use. The gate reads
it once per update (it goes into the reading); the picker's buttons carry ``h:NAME``; handlers
find the host with :func:`host_of` and name it with :func:`title`, one name in every message
of a flow (the 2FA prompt, the question and the result).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardButton

from hostwarden.bot.services import BotServices
from hostwarden.fleet.hub import display_name
from hostwarden.fleet.target import ManagedHost

DESTINY = "hw_host"
PER_ROW = 3
MOST_BUTTONS = 48


def _host_state(state: FSMContext) -> FSMContext:
    return FSMContext(storage=state.storage, key=replace(state.key, destiny=DESTINY))


async def chosen_host(state: FSMContext | None) -> str | None:
    """The host picked in this chat, if any."""
    if state is None:
        return None
    value = (await _host_state(state).get_data()).get("host")
    return value if isinstance(value, str) else None


async def choose_host(state: FSMContext, name: str) -> None:
    """Act on ``name`` in this chat from now on."""
    await _host_state(state).update_data(host=name)


def host_of(hw: BotServices, name: str | None) -> ManagedHost:
    """The fleet's host called ``name`` (the default for ``None``); ``NotFound`` otherwise."""
    return hw.hosts().get(name)


async def host_identity(hw: BotServices, name: str) -> str | None:
    """The fingerprint of host ``name``'s enrolled certificate (``None``: no agent's record, as
    for the hub's own host): what tells a host from one enrolled again under its name."""
    record = await hw.core.store.hosts.get(name)
    return record.fingerprint if record is not None else None


def title(hw: BotServices, host: ManagedHost) -> str:
    """What views and questions call ``host`` (``monitor.host_label`` for the hub's own)."""
    return display_name(hw.hosts(), host, hw.renderer.host)


def button_host(hw: BotServices, host: ManagedHost) -> str | None:
    """The host a view's buttons name (``v:status@db1``): none while the fleet has one host."""
    return host.name if len(hw.hosts().names()) > 1 else None


def picker_rows(names: Sequence[str], current: str | None) -> list[list[InlineKeyboardButton]]:
    """Rows of ``h:NAME`` buttons, the current host marked, and the overview; none for one host."""
    if len(names) < 2:
        return []
    buttons = [
        InlineKeyboardButton(
            text=f"● {name}" if name == current else name, callback_data=f"h:{name}"
        )
        for name in names[:MOST_BUTTONS]
    ]
    rows = [buttons[i : i + PER_ROW] for i in range(0, len(buttons), PER_ROW)]
    rows.append([InlineKeyboardButton(text="🖧 All hosts", callback_data="v:hosts")])
    return rows
