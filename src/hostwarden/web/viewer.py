"""Who is looking: the session cookie resolved through the core, once per request."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from hostwarden.core.identity import Actor, Role, User
from hostwarden.storage.base import SessionRecord


@dataclass(frozen=True, slots=True)
class Viewer:
    """A logged-in user with a live session bound to this client."""

    user: User
    session: SessionRecord
    token: str
    ip: str | None
    user_agent: str | None
    enrolled: bool | None = None  # a confirmed second factor, as read with the session

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


def client_ip(request: Request) -> str | None:
    """The client's address.

    Behind a trusted proxy :class:`hostwarden.web.proxy.ProxyHeaders` has already put the
    address the proxy saw in the scope; a client's own ``X-Forwarded-For`` is never read here.
    """
    return request.client.host[:64] if request.client else None


def user_agent(request: Request) -> str:
    """The browser's User-Agent: printable characters only, at most 300 (sessions bind to it)."""
    agent = request.headers.get("user-agent", "")[:300]
    return agent if agent.isprintable() else "".join(c for c in agent if c.isprintable())
