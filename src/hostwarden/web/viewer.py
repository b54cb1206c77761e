"""Who is looking: the session cookie resolved through the core, once per request."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from hostwarden.core.identity import Actor, Role, User
from hostwarden.storage.base import SessionRecord
from hostwarden.web.settings import WebSettings


@dataclass(frozen=True, slots=True)
class Viewer:
    """A logged-in user with a live session bound to this client."""

    user: User
    session: SessionRecord
    token: str
    ip: str | None
    user_agent: str | None

    @property
    def is_admin(self) -> bool:
        return self.user.has_role(Role.ADMIN)

    @property
    def ref(self) -> str:
        return f"user:{self.user.username}"

    def actor(self) -> Actor:
        """The core's view of this viewer (the session's 2FA time included)."""
        return Actor(
            username=self.user.username,
            ip=self.ip,
            user_agent=self.user_agent,
            mfa_at=self.session.mfa_at,
        )


def client_ip(request: Request, settings: WebSettings) -> str | None:
    """The client's address; X-Forwarded-For is believed only behind a configured proxy."""
    if settings.trusted_proxy:
        forwarded = request.headers.get("x-forwarded-for", "")
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first[:64]
    return request.client.host if request.client else None


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:300]
