"""Security headers on every response, and CSRF tokens for every state-changing form.

CSRF tokens are HMACs: of the session's stored hash once logged in (so a token is worth nothing
in another session), or of a random pre-login cookie on the login forms. Forms carry the token in
a hidden ``csrf`` field; every POST is checked before its handler acts. The body carrying it is
URL-encoded and at most 64 KiB (:mod:`hostwarden.web.forms`), so nothing is spooled or parsed
as multipart before the check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cache-control", b"no-store"),
)


class SecurityHeaders:
    """Adds :data:`HEADERS` (and HSTS over HTTPS) to every HTTP response."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in present]
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class CsrfSigner:
    """Makes and checks CSRF tokens bound to a session (or a pre-login cookie)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def token_for(self, binding: str) -> str:
        """The token for forms bound to ``binding`` (64 hex digits)."""
        return hmac.new(self._key, binding.encode("utf-8", "replace"), hashlib.sha256).hexdigest()

    def valid(self, binding: str, token: str | None) -> bool:
        """Whether ``token`` is the one for ``binding``; any odd token is simply ``False``.

        The comparison is on bytes: ``hmac.compare_digest`` raises on non-ASCII ``str``.
        """
        if not binding or not token or len(token) != 64 or not token.isascii():
            return False
        expected = self.token_for(binding).encode("ascii")
        return hmac.compare_digest(expected, token.encode("ascii"))

    @staticmethod
    def new_binding() -> str:
        """A random pre-login binding (43 URL-safe characters) for the login forms' cookie."""
        return secrets.token_urlsafe(32)
