"""The user side: act as any Telegram user, and read what the bot did (the transcript).

``POST /sandbox/say``    {"user_id", "text", "username"?, "first_name"?}  -> the update
``POST /sandbox/press``  {"user_id", "message_id", "data"}                 -> the update
``POST /sandbox/users``  {"user_id", "username"?, "first_name"?}           -> registers a chat
``GET  /sandbox/events?after=SEQ&chat_id=ID&wait=S&count=N``               -> transcript lines
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from hostwarden.sandbox.state import SandboxState

MAX_WAIT = 60.0


def _bad(text: str) -> web.Response:
    return web.json_response({"ok": False, "description": text}, status=400)


async def _body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _user(state: SandboxState, body: dict[str, Any]) -> dict[str, Any] | None:
    user_id = body.get("user_id")
    if not isinstance(user_id, int) or user_id <= 0:
        return None
    known = state.users.get(user_id, {})
    return state.register_user(
        user_id,
        body.get("username", known.get("username")),
        str(body.get("first_name") or known.get("first_name") or "User"),
    )


def routes(state: SandboxState) -> list[web.RouteDef]:
    async def say(request: web.Request) -> web.Response:
        body = await _body(request)
        user = _user(state, body) if body else None
        if body is None or user is None or not isinstance(body.get("text"), str):
            return _bad('give {"user_id": positive int, "text": string}')
        message = {
            "message_id": state.new_message_id(),
            "from": user,
            "chat": state.private_chat(user["id"]),
            "date": state.now(),
            "text": body["text"],
        }
        state.messages[(user["id"], message["message_id"])] = message
        update = state.new_update({"message": message})
        await state.notify()
        return web.json_response({"ok": True, "result": update, "seq": state.last_seq})

    async def press(request: web.Request) -> web.Response:
        body = await _body(request)
        user = _user(state, body) if body else None
        if body is None or user is None or not isinstance(body.get("data"), str):
            return _bad('give {"user_id": int, "message_id": int, "data": string}')
        message = state.messages.get((user["id"], int(body.get("message_id") or 0)))
        if message is None:
            return _bad("no such message in that chat")
        query = {
            "id": state.new_query_id(user["id"]),
            "from": user,
            "message": message,
            "chat_instance": str(user["id"]),
            "data": body["data"],
        }
        update = state.new_update({"callback_query": query})
        await state.notify()
        return web.json_response({"ok": True, "result": update, "seq": state.last_seq})

    async def register(request: web.Request) -> web.Response:
        body = await _body(request)
        user = _user(state, body) if body else None
        if user is None:
            return _bad('give {"user_id": positive int}')
        return web.json_response({"ok": True, "result": user})

    async def events(request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
            chat_id = int(request.query["chat_id"]) if "chat_id" in request.query else None
            wait = min(float(request.query.get("wait", "0")), MAX_WAIT)
            count = int(request.query.get("count", "1"))
        except ValueError:
            return _bad("after, chat_id and count are integers; wait is seconds")
        # Wait (bounded) until `count` lines exist after `after`: the bot answers asynchronously.
        if wait > 0:
            async with state.changed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await state.changed.wait_for(
                            lambda: (
                                state.closing or len(state.events_after(after, chat_id)) >= count
                            )
                        )
        found = [e.as_dict() for e in state.events_after(after, chat_id)]
        return web.json_response({"ok": True, "result": found, "last_seq": state.last_seq})

    return [
        web.post("/sandbox/say", say),
        web.post("/sandbox/press", press),
        web.post("/sandbox/users", register),
        web.get("/sandbox/events", events),
    ]
