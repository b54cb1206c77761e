"""The Bot API side: the methods hostwarden's bot calls, with Telegram's answers and errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from hostwarden.sandbox.messages import (
    answer_callback_query,
    delete_message,
    edit_message_reply_markup,
    edit_message_text,
    flag,
    integer,
    send_document,
    send_message,
    send_photo,
)
from hostwarden.sandbox.state import ApiError, SandboxState, bad_request

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


async def get_me(state: SandboxState, params: Params) -> Any:
    return state.bot_user


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
    if flag(params, "drop_pending_updates"):
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
    offset = integer(params, "offset", required=False) or 0
    limit = min(max(integer(params, "limit", required=False) or 100, 1), 100)
    timeout = min(max(integer(params, "timeout", required=False) or 0, 0), 50)
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
