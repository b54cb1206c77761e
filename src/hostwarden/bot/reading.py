"""One reading of every update: the route the handlers match and the action the guard decides.

The gate calls :func:`read_update` once per update. The guard decides on ``reading.action``;
handlers are registered by route (:class:`Route`), never by aiogram's text filters, and every route
maps to exactly one action in :data:`ROUTES`. So a handler can only run for the action the guard
allowed: there is no second parser to drift from the first.

What counts as a command: the first whitespace-separated word of the text, or of a caption,
starting with ``/``; ``/name@bot`` is ours only when ``bot`` is this bot's username. Command
names are ASCII (``[a-z0-9_]``). Anything the reading cannot map is :data:`UNKNOWN` (denied).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aiogram.filters import Filter
from aiogram.types import Chat, Message, Update

from hostwarden.bot.actions import COMMAND_ACTIONS, MENU, UNKNOWN, VERIFY_CODE, VIEW_ACTIONS
from hostwarden.bot.challenge import TwoFactor
from hostwarden.bot.confirmations import Asked
from hostwarden.errors import InvalidInput
from hostwarden.fleet.target import check_host_name

MAX_ARGS = 8
MAX_ARG_LENGTH = 256
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")

# Routes without a command of their own, and the action each serves.
TEXT = "text"  # plain chat, or a command we do not know: the help pointer
CODE = "code"  # a 2FA code typed in answer to a prompt
ENROL_CODE = "enrol_code"  # the first code that confirms an enrolment
PRIVATE_ONLY = "private_only"  # a command that only works in a private chat, sent in a group
PAGE = "page"  # the container list's pager
CONFIRM = "confirm"  # "ok:" on a pending /up, /down, /restart
UNBLOCK_PRESS = "unblock_press"  # "ub:" under /blocked
CANCEL_PRESS = "cancel_press"  # "no:" under a confirmation
EXPIRED_PRESS = "expired_press"  # "ok:" or "ub:" whose nonce is gone (or of the other kind)
NOWHERE = "nowhere"  # read and decided, but no handler serves it (edits, other update kinds)
IGNORED = "ignored"  # group traffic not addressed to the bot: not a request at all
HOST_PICK = "host_pick"  # "h:NAME" from the host picker: act on NAME in this chat from now on
BAD_HOST = "bad_host"  # a command naming a host ("@NAME") that cannot be a host name

ROUTES: dict[str, str] = {
    **{f"/{name}": action for name, action in COMMAND_ACTIONS.items()},
    **{f"view:{name}": action for name, action in VIEW_ACTIONS.items()},
    TEXT: MENU,
    CODE: VERIFY_CODE,
    ENROL_CODE: COMMAND_ACTIONS["enroll2fa"],
    PRIVATE_ONLY: MENU,
    PAGE: VIEW_ACTIONS["containers"],
    CANCEL_PRESS: MENU,
    EXPIRED_PRESS: MENU,
    HOST_PICK: MENU,
    BAD_HOST: MENU,
}
# Presses whose action is the one stored with their nonce, and the verbs each may carry.
CONFIRM_VERBS = frozenset({"up", "down", "restart"})
UNBLOCK_VERBS = frozenset({"unblock"})
DYNAMIC = frozenset({CONFIRM, UNBLOCK_PRESS})
CODE_STATE = TwoFactor.awaiting_code.state
ENROL_STATE = TwoFactor.confirming_enrolment.state
# What may be served in a group the config allows: views only; never secrets nor actions.
GROUP_ROUTES = frozenset(
    {f"view:{name}" for name in VIEW_ACTIONS}
    | {f"/{name}" for name, action in COMMAND_ACTIONS.items() if action == "host.view"}
    | {"/start", "/help", "/menu", "/images", "/containers", "/check_bot_updates", TEXT, PAGE}
    | {HOST_PICK, BAD_HOST}
)
# Routes that act on one host of the fleet: the one named (``@NAME``), else the chat's chosen one,
# else the default. Their reading carries that host, and the guard decides on it.
HOST_COMMANDS = frozenset(
    {f"/{name}" for name, action in COMMAND_ACTIONS.items() if action == "host.view"} - {"/hosts"}
    | {"/containers", "/images", "/container", "/logs", "/up", "/down", "/restart"}
)
HOST_ROUTES = (
    HOST_COMMANDS
    | {f"view:{name}" for name in VIEW_ACTIONS if name not in ("menu", "updates", "hosts")}
    | {PAGE}
)


@dataclass(frozen=True, slots=True)
class Reading:
    """What one update asks for. ``target`` is a view, page, nonce or the typed code.

    ``host`` is the fleet host the update acts on (:data:`HOST_ROUTES`, the picker's presses and
    a confirmation's press, whose host is the one its question named), else ``None``.
    """

    route: str
    action: str
    args: tuple[str, ...] = ()
    target: str = ""
    private: bool = True
    host: str | None = None


@dataclass(frozen=True, slots=True)
class ReadingContext:
    """What the reading needs besides the update itself."""

    bot_username: str
    group_chat_ids: frozenset[int]
    state: str | None
    pending: Callable[[str], Asked | None]  # nonce -> (verb, action, host) while live
    chosen_host: str | None = None  # the host picked in this chat, if one was
    default_host: str | None = None  # the fleet's default host


def read_update(update: Update, context: ReadingContext) -> Reading:
    """The one reading of ``update``; never raises on any input."""
    if update.message is not None:
        return _read_message(update.message, context)
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message is not None else None
        reading = _read_press(query.data or "", context)
        return _in_chat(reading, chat, context)
    chat = getattr(update.event, "chat", None)
    if isinstance(chat, Chat) and chat.type != "private":
        return Reading(IGNORED, MENU, private=False)  # group edits, joins, channel posts, ...
    if update.edited_message is not None:
        return Reading(NOWHERE, MENU)  # edits are never re-run as commands
    return Reading(NOWHERE, UNKNOWN)


def _read_message(message: Message, context: ReadingContext) -> Reading:
    body = message.text if message.text is not None else message.caption
    words = body.split() if body else []
    first = words[0] if words else ""
    command = _command(first, context.bot_username)
    if command is not None:
        args = tuple(word[:MAX_ARG_LENGTH] for word in words[1 : MAX_ARGS + 1])
        route = f"/{command}"
        reading = Reading(route if route in ROUTES else TEXT, ROUTES.get(route, MENU), args)
        if route in HOST_COMMANDS:
            reading = _named_host(reading, context)
    elif message.chat.type != "private" and not _addressed_to_bot(message, context):
        return Reading(IGNORED, MENU, private=False)
    elif (
        message.text is not None and context.state in (CODE_STATE, ENROL_STATE) and first[:1] != "/"
    ):
        route = CODE if context.state == CODE_STATE else ENROL_CODE
        reading = Reading(route, ROUTES[route], target=message.text[:MAX_ARG_LENGTH])
    else:
        reading = Reading(TEXT, MENU)
    return _in_chat(reading, message.chat, context)


def _command(word: str, bot_username: str) -> str | None:
    """``/name`` or ``/name@this_bot`` gives ``name``; another bot's command gives ``None``."""
    if not word.startswith("/"):
        return None
    name, at, addressee = word[1:].partition("@")
    if at and addressee.casefold() != bot_username.casefold():
        return None
    return name if _COMMAND.fullmatch(name) else "?"  # "?" is no route: the help pointer


def _addressed_to_bot(message: Message, context: ReadingContext) -> bool:
    """In a group, only a reply to the bot or a mention of it is a request."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.is_bot:
        sender = replied.from_user.username or ""
        return sender.casefold() == context.bot_username.casefold()
    body = message.text or message.caption or ""
    mention = re.compile(rf"@{re.escape(context.bot_username)}(?![A-Za-z0-9_])", re.IGNORECASE)
    return bool(context.bot_username) and mention.search(body) is not None


def _read_press(data: str, context: ReadingContext) -> Reading:
    prefix, _, rest = data.partition(":")
    if prefix in ("v", "cp"):  # a view or page, of the host after "@" when the button names one
        rest, at, named = rest.partition("@")
        host = _host_name(named, exact=True) if at else None
        if at and host is None:
            return _unknown()
        route = f"view:{rest}" if prefix == "v" else PAGE
        if route not in ROUTES or (at and route not in HOST_ROUTES):
            return _unknown()
        return _on_host(
            Reading(route, ROUTES[route], target=rest[:8] if prefix == "cp" else rest),
            host,
            context,
        )
    if prefix == "no":
        return Reading(CANCEL_PRESS, ROUTES[CANCEL_PRESS], target=rest[:64])
    if prefix == "h":
        host = _host_name(rest, exact=True)
        return Reading(HOST_PICK, ROUTES[HOST_PICK], host=host) if host else _unknown()
    if prefix in ("ok", "ub"):
        pending = context.pending(rest[:64])
        verbs = CONFIRM_VERBS if prefix == "ok" else UNBLOCK_VERBS
        if pending is None or pending.verb not in verbs:
            return Reading(EXPIRED_PRESS, ROUTES[EXPIRED_PRESS])
        if prefix == "ub":
            return Reading(UNBLOCK_PRESS, pending.action, target=rest)
        # The host the question named: the guard decides the press on it, as on the command
        # (a grant revoked meanwhile holds). A confirmation without one is not honoured.
        host = _host_name(pending.host or "", exact=True)
        if host is None:
            return Reading(EXPIRED_PRESS, ROUTES[EXPIRED_PRESS])
        return Reading(CONFIRM, pending.action, target=rest, host=host)
    return _unknown()


def _unknown() -> Reading:
    return Reading(NOWHERE, UNKNOWN)


def press_nonce(update: Update) -> str | None:
    """The confirmation nonce a press would look up (``ok:`` / ``ub:``), so that the caller can
    fetch it from the store before the reading, which never awaits."""
    query = update.callback_query
    if query is None:
        return None
    prefix, _, rest = (query.data or "").partition(":")
    return rest[:64] if prefix in ("ok", "ub") else None


def needs_state(update: Update) -> bool:
    """Whether the reading of ``update`` may depend on the chat's FSM state: only a message's
    text that is no command can be a code owed to a prompt. The caller reads the state (a store
    call) for those alone."""
    text = update.message.text if update.message is not None else None
    if text is None:
        return False
    words = text.split()
    return not (words[0] if words else "").startswith("/")


def _host_name(word: str, exact: bool = False) -> str | None:
    """``word`` as a host name (ASCII letters lowercased unless ``exact``), or ``None``."""
    name = word.lower() if word.isascii() and not exact else word
    try:
        return check_host_name(name)
    except InvalidInput:
        return None


def _named_host(reading: Reading, context: ReadingContext) -> Reading:
    """Take ``NAME@HOST`` or ``@HOST`` out of a host command's words: the host it acts on."""
    host: str | None = None
    left: list[str] = []
    for word in reading.args:
        name, at, rest = word.partition("@")
        if not at:
            left.append(word)
            continue
        found = _host_name(rest)
        if found is None or host not in (None, found):
            return Reading(BAD_HOST, ROUTES[BAD_HOST])
        host = found
        if name:
            left.append(name)
    return _on_host(replace(reading, args=tuple(left)), host, context)


def _on_host(reading: Reading, named: str | None, context: ReadingContext) -> Reading:
    """A host route's reading with its host: ``named``, else the chat's choice, else the default."""
    if reading.route not in HOST_ROUTES:
        return reading
    return replace(reading, host=named or context.chosen_host or context.default_host)


def _in_chat(reading: Reading, chat: Chat | None, context: ReadingContext) -> Reading:
    """Private chats get everything; allowed groups a few views; other chats nothing."""
    if chat is not None and chat.type == "private":
        return reading
    if chat is None or chat.id not in context.group_chat_ids:
        return Reading(NOWHERE, UNKNOWN, private=False)
    if reading.route in GROUP_ROUTES:
        return replace(reading, private=False)
    return Reading(PRIVATE_ONLY, ROUTES[PRIVATE_ONLY], private=False)


class Route(Filter):
    """Matches updates whose reading (set by the gate, only once allowed) has one of ``routes``."""

    def __init__(self, *routes: str) -> None:
        unknown = [route for route in routes if route not in ROUTES and route not in DYNAMIC]
        if unknown:
            raise ValueError(f"no such route: {', '.join(unknown)}")
        self.routes = frozenset(routes)

    async def __call__(self, event: Any, hw_reading: Reading | None = None) -> bool:
        return hw_reading is not None and hw_reading.route in self.routes
