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


def main_menu() -> InlineKeyboardMarkup:
    """Every view, one tap away."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(label, f"v:{view}") for label, view in row] for row in MENU_ROWS]
    )


def back_to_menu(refresh: str | None = None) -> InlineKeyboardMarkup:
    """A refresh button for the current view and a way back."""
    row = [_button("🔄 Refresh", f"v:{refresh}")] if refresh else []
    row.append(_button("☰ Menu", "v:menu"))
    return InlineKeyboardMarkup(inline_keyboard=[row])


def pager(page: int, pages: int) -> InlineKeyboardMarkup:
    """Previous/next for the container list."""
    row = []
    if page > 0:
        row.append(_button("◀️ Prev", f"cp:{page - 1}"))
    row.append(_button(f"{page + 1}/{pages}", f"cp:{page}"))
    if page + 1 < pages:
        row.append(_button("Next ▶️", f"cp:{page + 1}"))
    return InlineKeyboardMarkup(inline_keyboard=[row, [_button("☰ Menu", "v:menu")]])


def confirm(nonce: str, label: str) -> InlineKeyboardMarkup:
    """Confirm or cancel a pending destructive action."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(f"✅ {label}", f"ok:{nonce}"), _button("✖️ Cancel", f"no:{nonce}")]
        ]
    )
