"""Host views: /status, /cpu, /memory, /disks, /network, /processes, /sensors, /uptime."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Message

from hostwarden.bot.handlers.common import Target, show
from hostwarden.bot.keyboards import back_to_menu
from hostwarden.bot.reading import Reading, Route
from hostwarden.bot.services import BotServices

HOST_VIEWS = ("status", "cpu", "memory", "disks", "network", "processes", "sensors", "uptime")
TOP_PROCESSES = 8


def render_view(services: BotServices, view: str) -> str:
    """Read the host and render ``view`` (blocking: run it in a thread)."""
    host, renderer = services.host, services.renderer
    readers: dict[str, Callable[[], str]] = {
        "status": lambda: renderer.render("status", s=host.status()),
        "cpu": lambda: renderer.render("cpu", c=host.cpu()),
        "memory": lambda: renderer.render("memory", m=host.memory()),
        "disks": lambda: renderer.render("disks", disks=host.disks()),
        "network": lambda: renderer.render("network", interfaces=host.network()),
        "processes": lambda: renderer.render(
            "processes",
            **dict(zip(("by_cpu", "by_memory"), host.processes(TOP_PROCESSES), strict=True)),
        ),
        "sensors": lambda: renderer.render("sensors", sensors=host.sensors()),
        "uptime": lambda: _uptime(services),
    }
    return readers[view]()


def _uptime(services: BotServices) -> str:
    seconds = services.host.uptime_seconds()
    booted = datetime.now(UTC) - timedelta(seconds=seconds)
    return services.renderer.render("uptime", seconds=seconds, booted=booted)


async def _show_view(bot: Bot, target: Target, hw: BotServices, view: str) -> None:
    text = await asyncio.to_thread(render_view, hw, view)
    await show(bot, target, text, back_to_menu(view))


async def host_command(message: Message, bot: Bot, hw: BotServices, hw_reading: Reading) -> None:
    await _show_view(bot, message, hw, hw_reading.route.removeprefix("/"))


async def host_button(query: CallbackQuery, bot: Bot, hw: BotServices, hw_reading: Reading) -> None:
    await _show_view(bot, query, hw, hw_reading.target)


def build_router() -> Router:
    """A fresh router with this module's handlers (a router attaches to one dispatcher)."""
    router = Router(name="host")
    router.message.register(host_command, Route(*(f"/{view}" for view in HOST_VIEWS)))
    router.callback_query.register(host_button, Route(*(f"view:{view}" for view in HOST_VIEWS)))
    return router
