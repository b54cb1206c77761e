"""Request bodies: small URL-encoded forms only, refused before they are read otherwise.

Every form of the console is ``application/x-www-form-urlencoded``, which carries its CSRF token
in a few bytes that can be checked without spooling anything. :class:`RequestLimits` refuses any
other body type with 415 and anything larger than :data:`MAX_BODY` with 413, by its
``Content-Length`` before a byte is read and by counting what a chunked body streams;
:func:`read_form` reads the (bounded) body and parses it, without any multipart parser.

A NUL character, in the path, the query or a form field, is refused with 400 too: no name,
code or filter has one, and PostgreSQL refuses it in text (an error, not an answer).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024
MAX_FIELDS = 100
FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
#: The only paths that take JSON instead of a form: machines posting, not browsers.
JSON_PATHS = frozenset({"/fleet/enroll"})
NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MESSAGES = {
    400: "That request was not understood.",
    413: "That request is too large.",
    415: "Only plain HTML forms are accepted here.",
}


def media_type(content_type: str) -> str:
    """``text/html; charset=utf-8`` -> ``text/html``."""
    return content_type.partition(";")[0].strip().lower()


def refusal(scope: Scope) -> int | None:
    """The status that refuses this request by its headers alone (415, 413, 400), else ``None``."""
    headers = [(k.lower(), v) for k, v in scope.get("headers", [])]
    lengths = [v for k, v in headers if k == b"content-length"]
    chunked = any(k == b"transfer-encoding" for k, _ in headers)
    types = [v.decode("latin-1") for k, v in headers if k == b"content-type"]
    if len(lengths) > 1 or (lengths and not lengths[0].strip().isdigit()):
        return 400
    if lengths and len(lengths[0].strip()) > 15:  # int() of thousands of digits raises
        return 413
    query = bytes(scope.get("query_string", b"")).lower()
    if "\x00" in scope.get("path", "") or b"\x00" in query or b"%00" in query:
        return 400
    length = int(lengths[0]) if lengths else 0
    if scope.get("method", "GET") not in NO_BODY_METHODS:
        json_path = scope.get("path") in JSON_PATHS
        wanted = JSON_TYPE if json_path else FORM_TYPE
        if len(types) > 1 or (types and media_type(types[0]) != wanted):
            return 415
        # A JSON path wants its type even with no body: a browser sends a cross-site POST
        # without one (or with a form's, or text/plain) with no CORS preflight, and one typed
        # ``application/json`` only after a preflight the console never grants.
        if not types and (length or chunked or json_path):
            return 415
    if length > MAX_BODY:
        return 413
    return None


class RequestLimits:
    """ASGI middleware enforcing the rules above; refusals are the console's error page."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = refusal(scope)
        if status is not None:
            console = scope["app"].state.console
            request = Request(scope)
            response = console.page(
                request, "error.html", None, status, status=status, message=MESSAGES[status]
            )
            response.headers["connection"] = "close"  # the unread body must not be parsed next
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, counted, send)


async def read_form(request: Request) -> FormData:
    """The request's URL-encoded form (refusing any other type with 415, never multipart)."""
    content_type = request.headers.get("content-type", "")
    if content_type and media_type(content_type) != FORM_TYPE:
        raise HTTPException(415)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413)
    # Latin-1 maps bytes to code points one to one, so escapes and raw bytes both come back as
    # the bytes sent, then read as UTF-8 (what browsers send for a UTF-8 page).
    try:
        pairs = parse_qsl(
            body.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FIELDS,
            encoding="latin-1",
        )  # fmt: skip
    except ValueError:  # too many fields
        raise HTTPException(413) from None
    if any("\x00" in name or "\x00" in value for name, value in pairs):
        raise HTTPException(400)
    fields: list[tuple[str, str | UploadFile]] = [(_utf8(k), _utf8(v)) for k, v in pairs]
    return FormData(fields)


def _utf8(text: str) -> str:
    return text.encode("latin-1").decode("utf-8", "replace")
