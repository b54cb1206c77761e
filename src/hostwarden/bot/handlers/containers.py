"""/containers, /container, /logs, /images and the confirmed /up, /down, /restart."""

from __future__ import annotations

import html
import math

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Message

from hostwarden.bot.actions import small_number
from hostwarden.bot.handlers.common import Target, show
from hostwarden.bot.hostpick import button_host, host_identity, host_of, title
from hostwarden.bot.keyboards import back_to_menu, confirm, pager
from hostwarden.bot.reading import CANCEL_PRESS, CONFIRM, PAGE, Reading, Route
from hostwarden.bot.render import MESSAGE_LIMIT
from hostwarden.bot.safe_send import answer_callback, send_text
from hostwarden.bot.services import BotServices
from hostwarden.containers.actions import manage_container
from hostwarden.containers.engine import check_container_name
from hostwarden.containers.registry import ImageUpdate
from hostwarden.core.identity import Actor
from hostwarden.errors import HostwardenError, InvalidInput

VERBS = {"up": ("start", "Start"), "down": ("stop", "Stop"), "restart": ("restart", "Restart")}
# Room left in a message for the header and <pre> around the log text.
LOG_ROOM = MESSAGE_LIMIT - 300


def _problem(exc: HostwardenError) -> str:
    return f"⚠️ {html.escape(str(exc))}"


async def _containers_page(
    bot: Bot, target: Target, hw: BotServices, page: int, reading: Reading
) -> None:
    try:
        host = host_of(hw, reading.host)
        items = await host.engine.containers()
    except HostwardenError as exc:
        await show(bot, target, _problem(exc), back_to_menu("containers"))
        return
    size = hw.containers.page_size
    pages = max(math.ceil(len(items) / size), 1)
    page = min(max(page, 0), pages - 1)
    text = hw.renderer.render(
        "containers",
        items=items[page * size : (page + 1) * size],
        total=len(items),
        page=page,
        pages=pages,
        now=hw.clock.now(),
        host=title(hw, host),
    )
    await show(bot, target, text, pager(page, pages, button_host(hw, host)))


async def containers_command(
    message: Message, bot: Bot, hw: BotServices, hw_reading: Reading
) -> None:
    args = hw_reading.args
    page = (small_number(args[0] if args else None, 1, 1, 10_000) or 1) - 1
    await _containers_page(bot, message, hw, page, hw_reading)


async def containers_button(
    query: CallbackQuery, bot: Bot, hw: BotServices, hw_reading: Reading
) -> None:
    await _containers_page(bot, query, hw, 0, hw_reading)


async def containers_pager(
    query: CallbackQuery, bot: Bot, hw: BotServices, hw_reading: Reading
) -> None:
    page = small_number(hw_reading.target, 0, 0, 10_000) or 0
    await _containers_page(bot, query, hw, page, hw_reading)


def _name_arg(reading: Reading, usage: str) -> str:
    if not reading.args:
        raise InvalidInput(f"usage: {usage}")
    return check_container_name(reading.args[0])


async def container_details(
    message: Message, bot: Bot, hw: BotServices, hw_reading: Reading
) -> None:
    try:
        host = host_of(hw, hw_reading.host)
        details = await host.engine.details(_name_arg(hw_reading, "/container NAME"))
    except HostwardenError as exc:
        await send_text(bot, message.chat.id, _problem(exc))
        return
    text = hw.renderer.render("container", d=details, now=hw.clock.now(), host=title(hw, host))
    await send_text(bot, message.chat.id, text)


def fit_log(text: str, room: int = LOG_ROOM) -> tuple[str, bool]:
    """The newest lines of ``text`` whose escaped form fits in ``room`` characters."""
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = len(html.escape(line)) + 1
        if used + cost > room:
            if not kept:  # one enormous line: keep its end
                kept.append("…" + line[-(room // 6) :])
            return "\n".join(reversed(kept)), True
        kept.append(line)
        used += cost
    return "\n".join(reversed(kept)), False


async def logs(message: Message, bot: Bot, hw: BotServices, hw_reading: Reading) -> None:
    args = hw_reading.args
    try:
        name = _name_arg(hw_reading, "/logs NAME [N]")
        count = small_number(
            args[1] if len(args) > 1 else None,
            hw.containers.log_lines,
            1,
            hw.containers.max_log_lines,
        )
        if count is None:
            raise InvalidInput("N must be a number of lines")
        host = host_of(hw, hw_reading.host)
        text = await host.engine.logs(name, count)
    except HostwardenError as exc:
        await send_text(bot, message.chat.id, _problem(exc))
        return
    shown, cut = fit_log(text)
    await send_text(
        bot,
        message.chat.id,
        hw.renderer.render(
            "logs", name=name, count=count, text=shown, cut=cut, host=title(hw, host)
        ),
    )


async def ask_to_manage(
    message: Message, bot: Bot, hw: BotServices, hw_actor: Actor, hw_reading: Reading
) -> None:
    verb = hw_reading.route.removeprefix("/")
    _, label = VERBS[verb]
    try:
        name = _name_arg(hw_reading, f"/{verb} NAME")
        host = host_of(hw, hw_reading.host)
        await host.engine.details(name)  # refuse unknown names (and hosts) before asking
    except HostwardenError as exc:
        await send_text(bot, message.chat.id, _problem(exc))
        return
    # The host goes with the container (``web@db1``): the press acts where the question said,
    # if the guard still allows it there and it is still the host enrolled now.
    target = f"{name}@{host.name}"
    nonce = await hw.confirmations.add(
        hw_actor.telegram_id or 0, verb, target, hw_reading.action,
        host=host.name, host_fingerprint=await host_identity(hw, host.name),
    )  # fmt: skip
    await send_text(
        bot,
        message.chat.id,
        f"{label} container <b>{html.escape(name)}</b>"
        f" on host <b>{html.escape(title(hw, host))}</b>?",
        confirm(nonce, label),
    )


async def cancel_manage(
    query: CallbackQuery, bot: Bot, hw: BotServices, hw_actor: Actor, hw_reading: Reading
) -> None:
    await hw.confirmations.take(hw_reading.target, hw_actor.telegram_id or 0)
    await show(bot, query, "Cancelled.")


async def confirmed_manage(
    query: CallbackQuery, bot: Bot, hw: BotServices, hw_actor: Actor, hw_reading: Reading
) -> None:
    pending = await hw.confirmations.take(hw_reading.target, hw_actor.telegram_id or 0)
    if (
        pending is None
        or pending.action != hw_reading.action
        or pending.verb not in VERBS
        or pending.host is None
        or pending.host != hw_reading.host  # the host the guard decided on
        or pending.host_fingerprint != await host_identity(hw, pending.host)  # enrolled again
    ):
        await answer_callback(bot, query.id, "This confirmation has expired.")
        return
    method, label = VERBS[pending.verb]
    container = pending.target.partition("@")[0]
    try:
        host = host_of(hw, pending.host)
        summary = await manage_container(
            host.engine,
            hw.core.audit,
            verb=method,
            container=container,
            actor=f"tg:{hw_actor.telegram_id}",
            channel="telegram",
            host=host.name,
        )
    except HostwardenError as exc:  # audited as failed by manage_container
        await show(bot, query, _problem(exc))
        return
    await show(
        bot,
        query,
        f"✅ {label}: <b>{html.escape(summary.name)}</b> on <b>{html.escape(title(hw, host))}</b>"
        f" is now {html.escape(summary.state)}.",
    )


async def _images(bot: Bot, target: Target, hw: BotServices, reading: Reading) -> None:
    try:
        host = host_of(hw, reading.host)
        images = await host.engine.images()
        checks = await host.image_updates(images)
    except HostwardenError as exc:
        await show(bot, target, _problem(exc), back_to_menu("images"))
        return
    updates: dict[str, list[ImageUpdate]] = {}
    for image in images:
        updates[image.short_id] = [c for c in checks if c.reference in image.tags]
    text = hw.renderer.render(
        "images", images=images, updates=updates, now=hw.clock.now(), host=title(hw, host)
    )
    await show(bot, target, text, back_to_menu("images", button_host(hw, host)))


async def images_command(message: Message, bot: Bot, hw: BotServices, hw_reading: Reading) -> None:
    await _images(bot, message, hw, hw_reading)


async def images_button(
    query: CallbackQuery, bot: Bot, hw: BotServices, hw_reading: Reading
) -> None:
    await _images(bot, query, hw, hw_reading)


def build_router() -> Router:
    """A fresh router with this module's handlers (a router attaches to one dispatcher)."""
    router = Router(name="containers")
    router.message.register(containers_command, Route("/containers"))
    router.callback_query.register(containers_button, Route("view:containers"))
    router.callback_query.register(containers_pager, Route(PAGE))
    router.message.register(container_details, Route("/container"))
    router.message.register(logs, Route("/logs"))
    router.message.register(ask_to_manage, Route(*(f"/{verb}" for verb in VERBS)))
    router.callback_query.register(cancel_manage, Route(CANCEL_PRESS))
    router.callback_query.register(confirmed_manage, Route(CONFIRM))
    router.message.register(images_command, Route("/images"))
    router.callback_query.register(images_button, Route("view:images"))
    return router
