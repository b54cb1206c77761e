"""In front of the webhook: only Telegram's networks, the secret path and the secret-token header.

A request from outside ``allowed_networks`` gets 403 and counts against its address (the core's
IP rule, atomic in the store, so scanners end up blocked and audited). Requests from inside are
never counted: anyone can point their own bot's webhook at this host, and Telegram would then
deliver their garbage from Telegram's own addresses; blocking those would block our updates.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from hostwarden.core.lockout import Lockout

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# https://core.telegram.org/bots/webhooks: updates come from these ranges.
TELEGRAM_NETWORKS = ("149.154.160.0/20", "91.108.4.0/22")


def webhook_guard(
    lockout: Lockout, path: str, secret_token: str, allowed_networks: list[str]
) -> Middleware:
    """An aiohttp middleware applying the rules above."""
    networks = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]

    def allowed(ip: str) -> bool:
        if not networks:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in networks)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        ip = request.remote or "unknown"
        if not allowed(ip):
            await lockout.hit(f"ip:{ip}", lockout.ip_rule)  # not counted once blocked
            return web.Response(status=403)
        if request.path != path:
            return web.Response(status=404)
        token = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(token.encode(), secret_token.encode()):
            return web.Response(status=401)
        return await handler(request)

    return guard
