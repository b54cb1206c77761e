"""Host views: /status, /cpu, /memory, /disks, /network, /processes, /sensors, /uptime.

Each reads the chosen host once (:meth:`~hostwarden.fleet.target.ManagedHost.report`) and renders
from that reading, whichever kind of host it is. A host that does not answer gives one line
saying so, and when the hub last heard from it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import timedelta

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Message

from hostwarden.bot.handlers.common import Target, show
from hostwarden.bot.hostpick import button_host, host_of, title
from hostwarden.bot.keyboards import back_to_menu
from hostwarden.bot.reading import Reading, Route
from hostwarden.bot.services import BotServices
from hostwarden.errors import HostwardenError, NotFound
from hostwarden.fleet.target import TOP_PROCESSES, HostReport
from hostwarden.units import human_duration

HOST_VIEWS = ("status", "cpu", "memory", "disks", "network", "processes", "sensors", "uptime")


def render_view(hw: BotServices, view: str, report: HostReport, host: str) -> str:
    """``view`` of one reading of a host, headed by the host's name."""
    render, s = hw.renderer.render, report.status
    views: dict[str, Callable[[], str]] = {
        "status": lambda: render("status", s=s, host=host),
        "cpu": lambda: render("cpu", c=s.cpu, host=host),
        "memory": lambda: render("memory", m=s.memory, host=host),
        "disks": lambda: render("disks", disks=s.disks, host=host),
        "network": lambda: render("network", interfaces=report.network, host=host),
        "processes": lambda: render(
            "processes", by_cpu=list(report.by_cpu), by_memory=list(report.by_memory), host=host
        ),
        "sensors": lambda: render("sensors", sensors=s.sensors, host=host),
        "uptime": lambda: render(
            "uptime",
            seconds=s.uptime_seconds,
            booted=hw.clock.now() - timedelta(seconds=s.uptime_seconds),
            host=host,
        ),
    }
    return views[view]()


def unreachable(hw: BotServices, name: str, exc: HostwardenError) -> str:
    """One line for a host that did not answer, with when it last did."""
    if isinstance(exc, NotFound):
        return f"⚠️ {html.escape(str(exc))}"
    seen = hw.host_overview().last_seen(name)
    when = (
        f"last seen {human_duration((hw.clock.now() - seen).total_seconds())} ago"
        if seen
        else "not seen since the hub started"
    )
    return f"⚠️ Host <b>{html.escape(name)}</b> does not answer: {html.escape(str(exc))} ({when})."


async def _show_view(
    bot: Bot, target: Target, hw: BotServices, view: str, name: str | None
) -> None:
    try:
        host = host_of(hw, name)
        report = await host.report(TOP_PROCESSES if view == "processes" else 0)
    except HostwardenError as exc:
        await show(
            bot, target, unreachable(hw, name or hw.hosts().default, exc), back_to_menu(view)
        )
        return
    hw.host_overview().saw(host.name)
    text = render_view(hw, view, report, title(hw, host))
    await show(bot, target, text, back_to_menu(view, button_host(hw, host)))


async def host_command(message: Message, bot: Bot, hw: BotServices, hw_reading: Reading) -> None:
    await _show_view(bot, message, hw, hw_reading.route.removeprefix("/"), hw_reading.host)


async def host_button(query: CallbackQuery, bot: Bot, hw: BotServices, hw_reading: Reading) -> None:
    await _show_view(bot, query, hw, hw_reading.target, hw_reading.host)


def build_router() -> Router:
    """A fresh router with this module's handlers (a router attaches to one dispatcher)."""
    router = Router(name="host")
    router.message.register(host_command, Route(*(f"/{view}" for view in HOST_VIEWS)))
    router.callback_query.register(host_button, Route(*(f"view:{view}" for view in HOST_VIEWS)))
    return router
