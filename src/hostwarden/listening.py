"""A listening TCP socket, bound before anything else starts: one line when it cannot be.

uvicorn and aiohttp answer a taken port from inside the event loop (a traceback); :func:`listen`
raises one :class:`ListenError` line instead. The console and the agent bind here.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from hostwarden.errors import HostwardenError

BACKLOG = 2048


class ListenError(HostwardenError, OSError):
    """A server (the console, the agent) cannot listen where it was told to (one line; an
    ``OSError`` too)."""

    code = "listen"


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``); nothing else, not even
    an empty or missing host."""
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port} of {host}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    return f"cannot listen on {host}:{port}: {exc.strerror or type(exc).__name__}"


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound and listening on ``host``:``port``; else a :class:`ListenError`."""
    shown = host[:60]
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (OSError, UnicodeError):
        raise ListenError(f"cannot listen on {shown!r}: no such host") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(_reason(exc, shown, port)) from None
    return sock
