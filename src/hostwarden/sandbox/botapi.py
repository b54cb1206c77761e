"""The Bot API side: the methods hostwarden's bot calls, with Telegram's answers and errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from hostwarden.sandbox.markup import MarkupError, parse_html
from hostwarden.sandbox.state import ApiError, SandboxState, bad_request

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)

Params = dict[str, Any]
Method = Callable[[SandboxState, Params], Awaitable[Any]]


async def read_params(request: web.Request) -> Params:
    """Query string, JSON body, urlencoded or multipart form, as Telegram accepts them all."""
    params: Params = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
        return params
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            data = await part.read()
            if part.filename:
                params[part.name] = {"filename": part.filename, "size": len(data)}
            else:
                params[part.name] = data.decode("utf-8")
        return params
    params.update(await request.post())
    return params


def _json_field(params: Params, name: str) -> Any:
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None
    return value


def _flag(params: Params, name: str) -> bool:
    value = params.get(name)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _int(params: Params, name: str, required: bool = True) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is empty" if name != "chat_id" else "chat not found")
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _checked_text(params: Params, field: str, limit: int, empty: str | None) -> str:
    text = str(params.get(field) or "")
    if not text and empty is not None:
        raise bad_request(empty)
    if params.get("parse_mode") == "HTML" and text:
        try:
            plain = parse_html(text)
        except MarkupError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
    else:
        plain = text
    if len(plain) > limit:
        raise bad_request(
            "message is too long" if field == "text" else "message caption is too long"
        )
    return text


def _chat(state: SandboxState, params: Params) -> int:
    chat_id = _int(params, "chat_id")
    assert chat_id is not None
    if chat_id not in state.users:
        raise bad_request("chat not found")
    return chat_id


def _store(state: SandboxState, chat_id: int, params: Params, **content: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": state.new_message_id(),
        "from": state.bot_user,
        "chat": state.private_chat(chat_id),
        "date": state.now(),
        **content,
    }
    markup = _json_field(params, "reply_markup")
    if markup:
        message["reply_markup"] = markup
    if _flag(params, "protect_content"):
        message["has_protected_content"] = True
    state.messages[(chat_id, message["message_id"])] = message
    return message


def _buttons(message: dict[str, Any]) -> list[list[str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [[f"{b.get('text')}|{b.get('callback_data', '')}" for b in row] for row in rows]


async def get_me(state: SandboxState, params: Params) -> Any:
    return state.bot_user


async def send_message(state: SandboxState, params: Params) -> Any:
    chat_id = _chat(state, params)
    text = _checked_text(params, "text", MESSAGE_LIMIT, "message text is empty")
    message = _store(state, chat_id, params, text=text)
    state.record(
        "sent",
        chat_id,
        message["message_id"],
        text,
        buttons=_buttons(message),
        protected=bool(message.get("has_protected_content")),
    )
    return message


async def _send_file(state: SandboxState, params: Params, field: str) -> Any:
    chat_id = _chat(state, params)
    value = params.get(field)
    if isinstance(value, str) and value.startswith("attach://"):
        value = params.get(value.removeprefix("attach://"))
    if not isinstance(value, dict):
        raise bad_request(f"there is no {field} in the request")
    caption = _checked_text(params, "caption", CAPTION_LIMIT, None)
    file_info = {
        "file_id": f"sandbox-{field}-{state.new_message_id()}",
        "file_unique_id": "u",
        "file_size": value["size"],
    }
    if field == "photo":
        content: dict[str, Any] = {"photo": [{**file_info, "width": 512, "height": 512}]}
        if _flag(params, "has_spoiler"):
            content["has_media_spoiler"] = True
    else:
        content = {"document": {**file_info, "file_name": value["filename"]}}
    if caption:
        content["caption"] = caption
    message = _store(state, chat_id, params, **content)
    state.record(
        "sent",
        chat_id,
        message["message_id"],
        caption,
        media=field,
        file_size=value["size"],
        spoiler=bool(content.get("has_media_spoiler")),
        protected=bool(message.get("has_protected_content")),
    )
    return message


async def send_photo(state: SandboxState, params: Params) -> Any:
    return await _send_file(state, params, "photo")


async def send_document(state: SandboxState, params: Params) -> Any:
    return await _send_file(state, params, "document")


async def edit_message_text(state: SandboxState, params: Params) -> Any:
    chat_id = _chat(state, params)
    message_id = _int(params, "message_id")
    assert message_id is not None
    message = state.message(chat_id, message_id, "message to edit not found")
    text = _checked_text(params, "text", MESSAGE_LIMIT, "message text is empty")
    markup = _json_field(params, "reply_markup")
    if text == message.get("text") and markup == message.get("reply_markup"):
        raise bad_request(NOT_MODIFIED)
    message["text"] = text
    message["edit_date"] = state.now()
    if markup:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)
    state.record("edited", chat_id, message_id, text, buttons=_buttons(message))
    return message


async def edit_message_reply_markup(state: SandboxState, params: Params) -> Any:
    chat_id = _chat(state, params)
    message_id = _int(params, "message_id")
    assert message_id is not None
    message = state.message(chat_id, message_id, "message to edit not found")
    markup = _json_field(params, "reply_markup")
    if markup == message.get("reply_markup"):
        raise bad_request(NOT_MODIFIED)
    if markup:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)
    state.record(
        "edited", chat_id, message_id, str(message.get("text", "")), buttons=_buttons(message)
    )
    return message


async def delete_message(state: SandboxState, params: Params) -> Any:
    chat_id = _chat(state, params)
    message_id = _int(params, "message_id")
    assert message_id is not None
    if state.messages.pop((chat_id, message_id), None) is None:
        raise bad_request("message to delete not found")
    state.record("deleted", chat_id, message_id)
    return True


async def answer_callback_query(state: SandboxState, params: Params) -> Any:
    query_id = str(params.get("callback_query_id") or "")
    user_id = state.callbacks.pop(query_id, None)
    if user_id is None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    state.record(
        "answered",
        user_id,
        None,
        str(params.get("text") or ""),
        show_alert=_flag(params, "show_alert"),
    )
    return True


async def set_webhook(state: SandboxState, params: Params) -> Any:
    url = str(params.get("url") or "")
    if not url:
        state.webhook = None
        return True
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    state.webhook = {"url": url, "secret_token": params.get("secret_token"), "pending": 0}
    if state.poller is not None and not state.poller.done():
        state.poller.set_exception(ApiError(409, "Conflict: terminated by setWebhook request"))
    await state.notify()
    return True


async def delete_webhook(state: SandboxState, params: Params) -> Any:
    state.webhook = None
    if _flag(params, "drop_pending_updates"):
        state.updates.clear()
    await state.notify()
    return True


async def get_webhook_info(state: SandboxState, params: Params) -> Any:
    hook = state.webhook or {}
    return {
        "url": hook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": len(state.updates),
    }


async def get_updates(state: SandboxState, params: Params) -> Any:
    if state.webhook is not None:
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    offset = _int(params, "offset", required=False) or 0
    limit = min(max(_int(params, "limit", required=False) or 100, 1), 100)
    timeout = min(max(_int(params, "timeout", required=False) or 0, 0), 50)
    if offset:
        state.updates[:] = [u for u in state.updates if u["update_id"] >= offset]
    if state.poller is not None and not state.poller.done():
        state.poller.set_exception(
            ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        )
    me: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    state.poller = me
    await state.notify()  # observers (tests) may wait for a poller to be waiting
    if not state.updates and timeout:
        async with state.changed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await state.changed.wait_for(
                        lambda: bool(state.updates) or me.done() or state.closing
                    )
    if me.done() and me.exception() is not None:
        raise me.exception()  # type: ignore[misc]
    me.cancel()
    return state.updates[:limit]


async def accept(state: SandboxState, params: Params) -> Any:
    """Methods whose effect the sandbox does not model (setMyCommands, sendChatAction, ...)."""
    return True


METHODS: dict[str, Method] = {
    "getme": get_me,
    "getupdates": get_updates,
    "sendmessage": send_message,
    "editmessagetext": edit_message_text,
    "editmessagereplymarkup": edit_message_reply_markup,
    "sendphoto": send_photo,
    "senddocument": send_document,
    "deletemessage": delete_message,
    "answercallbackquery": answer_callback_query,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "setmycommands": accept,
    "sendchataction": accept,
    "close": accept,
    "logout": accept,
}


def make_handler(state: SandboxState) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The ``/bot<token>/<method>`` endpoint."""

    async def handle(request: web.Request) -> web.Response:
        if request.match_info["token"] != state.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        method = METHODS.get(request.match_info["method"].lower())
        if method is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        try:
            params = await read_params(request)
            result = await method(state, params)
        except ApiError as exc:
            return web.json_response(exc.body(), status=exc.code)
        await state.notify()
        return web.json_response({"ok": True, "result": result})

    return handle
