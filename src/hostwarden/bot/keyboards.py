"""Inline keyboards. Buttons carry short fixed tokens; the gate maps each to a policy action."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

MENU_ROWS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("📊 Status", "status"), ("🧠 CPU", "cpu"), ("💾 Memory", "memory")),
    (("🗄 Disks", "disks"), ("🌐 Network", "network"), ("⚙️ Processes", "processes")),
    (("🌡 Sensors", "sensors"), ("⏱ Uptime", "uptime")),
    (("🐳 Containers", "containers"), ("📦 Images", "images")),
    (("⬆️ Bot updates", "updates"),),
)


def _button(label: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=label, callback_data=data)


def main_menu(hosts: list[list[InlineKeyboardButton]] | None = None) -> InlineKeyboardMarkup:
    """Every view, one tap away; then the host picker's rows, if the fleet has several hosts."""
    rows = [[_button(label, f"v:{view}") for label, view in row] for row in MENU_ROWS]
    return InlineKeyboardMarkup(inline_keyboard=rows + (hosts or []))


def _on(host: str | None) -> str:
    """The suffix that makes a button act on ``host`` (none: the chat's chosen host)."""
    return f"@{host}" if host else ""


def back_to_menu(refresh: str | None = None, host: str | None = None) -> InlineKeyboardMarkup:
    """A refresh button for the current view (of ``host``, if given) and a way back."""
    row = [_button("🔄 Refresh", f"v:{refresh}{_on(host)}")] if refresh else []
    row.append(_button("☰ Menu", "v:menu"))
    return InlineKeyboardMarkup(inline_keyboard=[row])


def pager(page: int, pages: int, host: str | None = None) -> InlineKeyboardMarkup:
    """Previous/next for the container list (of ``host``, if given)."""
    row = []
    if page > 0:
        row.append(_button("◀️ Prev", f"cp:{page - 1}{_on(host)}"))
    row.append(_button(f"{page + 1}/{pages}", f"cp:{page}{_on(host)}"))
    if page + 1 < pages:
        row.append(_button("Next ▶️", f"cp:{page + 1}{_on(host)}"))
    return InlineKeyboardMarkup(inline_keyboard=[row, [_button("☰ Menu", "v:menu")]])


def confirm(nonce: str, label: str) -> InlineKeyboardMarkup:
    """Confirm or cancel a pending destructive action."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(f"✅ {label}", f"ok:{nonce}"), _button("✖️ Cancel", f"no:{nonce}")]
        ]
    )
