"""Who is asking, and how the page was reached, as told by a trusted reverse proxy.

Behind a proxy the TCP peer is the proxy. Each proxy *appends* the address it saw to
``X-Forwarded-For``; whatever stands to the left of what our own proxies appended was written by
the client and proves nothing. So, and only when ``web.trusted_proxy`` is on and the direct peer
is inside ``web.proxy_networks``:

- the client address is the ``X-Forwarded-For`` entry ``web.trusted_hops`` from the right (the
  last entry behind one proxy; the first if there are fewer entries than hops, all of them then
  written by our proxies);
- the scheme is ``X-Forwarded-Proto``'s entry at the same hop, if it is ``http`` or ``https``, so
  that ``url_for`` builds ``https://`` URLs behind a TLS proxy;
- the host is ``X-Forwarded-Host``'s entry at the same hop, if it is a plain ``host[:port]``.

The standard ``Forwarded`` header is not read. A forwarded value that is missing or malformed is
ignored: the connection's own value stays. With ``trusted_hops`` above one, the outermost proxy
must be the only way in (a client reaching an inner proxy directly could prepend an entry of its
choosing).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from hostwarden.web.settings import WebSettings

_HOST = re.compile(
    r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
    r"|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::[0-9]{1,5})?"
)
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(text: str) -> str | None:
    """``text`` as a normalised IP address (a port or brackets removed), else ``None``.

    An IPv6 zone (``fe80::1%eth0``) means nothing beyond the proxy's own link: refused.
    """
    text = text.strip()
    if "%" in text:
        return None
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def hop_entry(values: list[str], hops: int) -> str | None:
    """The entry ``hops`` from the right of comma-joined header ``values`` (or the first)."""
    if not values:
        return None
    entries = ",".join(values).rsplit(",", hops)
    chosen = entries[-hops] if len(entries) > hops else entries[0]
    return chosen.strip() or None


class ProxyHeaders:
    """ASGI middleware: the client, scheme and host of the scope, from a trusted proxy only.

    Everything downstream (``request.client``, ``request.url``, ``url_for``) then sees the
    client's view; see the module's docstring for which entries are believed.
    """

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        self.app = app
        self.settings = settings
        self.networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in settings.proxy_networks
        )

    def from_proxy(self, scope: Scope) -> bool:
        """Whether the direct peer is one of the configured proxies."""
        if not self.settings.trusted_proxy or not scope.get("client"):
            return False
        peer = parse_ip(str(scope["client"][0]))
        if peer is None:
            return False
        address = ipaddress.ip_address(peer)
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.from_proxy(scope):
            scope = forwarded_scope(scope, self.settings.trusted_hops)
        await self.app(scope, receive, send)


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key.lower() == name]


def forwarded_scope(scope: Scope, hops: int) -> Scope:
    """A copy of ``scope`` with what the proxies ``hops`` deep forwarded (if well formed)."""
    headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
    scope = dict(scope)
    client = parse_ip(hop_entry(_header(headers, b"x-forwarded-for"), hops) or "")
    if client is not None:
        scope["client"] = (client, 0)
    proto = (hop_entry(_header(headers, b"x-forwarded-proto"), hops) or "").lower()
    if proto in ("http", "https"):
        scope["scheme"] = proto
    host = hop_entry(_header(headers, b"x-forwarded-host"), hops)
    if host is not None and len(host) <= 260 and _HOST.fullmatch(host):
        kept = [(k, v) for k, v in headers if k.lower() != b"host"]
        scope["headers"] = [(b"host", host.encode("ascii")), *kept]
    return scope
