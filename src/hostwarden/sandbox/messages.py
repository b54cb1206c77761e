"""Message methods of the sandbox's Bot API: send, edit, delete, files, button answers."""

from __future__ import annotations

import json
from typing import Any

from hostwarden.sandbox.markup import MarkupError, parse_html
from hostwarden.sandbox.state import SandboxState, bad_request

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)

Params = dict[str, Any]


def json_field(params: Params, name: str) -> Any:
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None
    return value


def flag(params: Params, name: str) -> bool:
    value = params.get(name)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def integer(params: Params, name: str, required: bool = True) -> int | None:
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
    chat_id = integer(params, "chat_id")
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
    markup = json_field(params, "reply_markup")
    if markup:
        message["reply_markup"] = markup
    if flag(params, "protect_content"):
        message["has_protected_content"] = True
    state.messages[(chat_id, message["message_id"])] = message
    return message


def _buttons(message: dict[str, Any]) -> list[list[str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [[f"{b.get('text')}|{b.get('callback_data', '')}" for b in row] for row in rows]


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
        if flag(params, "has_spoiler"):
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
    message_id = integer(params, "message_id")
    assert message_id is not None
    message = state.message(chat_id, message_id, "message to edit not found")
    text = _checked_text(params, "text", MESSAGE_LIMIT, "message text is empty")
    markup = json_field(params, "reply_markup")
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
    message_id = integer(params, "message_id")
    assert message_id is not None
    message = state.message(chat_id, message_id, "message to edit not found")
    markup = json_field(params, "reply_markup")
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
    message_id = integer(params, "message_id")
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
        show_alert=flag(params, "show_alert"),
    )
    return True
