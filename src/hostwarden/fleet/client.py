"""The hub's HTTP client for one agent: mutual TLS, deadlines, capped bodies, strict parsing.

Everything an agent answers is treated as hostile: redirects are never followed, compressed or
oversized bodies are refused before parsing (:data:`~hostwarden.fleet.wire.MAX_BODY`), cookies are
dropped, and the JSON must fit a strict :mod:`~hostwarden.fleet.wire` model. Only reads (GET) are
retried, and only when the agent could not be reached; a start or restart is sent once. Errors
are :mod:`hostwarden.errors`: :class:`Unavailable` (unreachable, too slow, a broken answer),
:class:`NotFound` (404), :class:`InvalidInput` (400, 403: refused, read-only).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest
from aiohttp.tracing import Trace
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from hostwarden.errors import HostwardenError, InvalidInput, NotFound, Unavailable
from hostwarden.fleet.tls import peer_fingerprint
from hostwarden.fleet.wire import MAX_BODY, Line, Wire, clean_line, parse

M = TypeVar("M", bound=BaseModel)
Sleep = Callable[[float], Awaitable[None]]
#: Whether the agent certificate with this SHA-256 (hex; ``None``: none shown) is still trusted.
Trust = Callable[[str | None], Awaitable[bool]]

#: Seconds for a whole request (connect, TLS, answer, body), and for connecting alone.
TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
#: Seconds added for a start, stop or restart: the agent's engine call has its own deadline.
ACTION_EXTRA = 30.0
#: How many times a read is tried when the agent cannot be reached.
ATTEMPTS = 3


class Unreachable(Unavailable):
    """The agent did not answer (refused, reset, TLS refused, too slow): worth a retry."""


class AgentError(Wire):
    """The agent's error body."""

    error: Line = "error"
    message: Line = ""


_ERRORS: Mapping[int, type[HostwardenError]] = {400: InvalidInput, 403: InvalidInput, 404: NotFound}


class AgentClient:
    """Requests to one agent at ``base_url`` (``https://host:port``) as the hub.

    ``context`` carries the hub's client certificate and trusts the hub's CA; ``server_hostname``
    is the name the agent's certificate must bear (the agent's host name), whatever address
    ``base_url`` dials. ``trust`` is asked about the agent's certificate on every answer, before
    its body is read (a removed host is refused though its certificate is still valid).
    ``sleep`` waits between retries (tests pass one that does not wait).
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        context: ssl.SSLContext,
        server_hostname: str | None = None,
        *,
        timeout: float = TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        attempts: int = ATTEMPTS,
        sleep: Sleep | None = None,
        max_body: int = MAX_BODY,
        trust: Trust | None = None,
    ) -> None:
        self.name = name
        self._trust = trust
        self.base_url = base_url.rstrip("/")
        self._context = context
        self._server_hostname = server_hostname
        self._timeout = aiohttp.ClientTimeout(
            total=timeout, connect=connect_timeout, sock_read=timeout
        )
        slow = timeout + ACTION_EXTRA
        self._action_timeout = aiohttp.ClientTimeout(
            total=slow, connect=connect_timeout, sock_read=slow
        )
        self._attempts = max(attempts, 1)
        self._sleep = sleep or asyncio.sleep
        self._max_body = min(max_body, MAX_BODY)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # With a trust check, no connection is reused: every request is a handshake
                # whose certificate the store must still trust (a removed host is refused at
                # its next request, not when an idle connection happens to close).
                connector=_CheckedConnector(
                    self.name,
                    self._trust,
                    ssl=self._context,
                    limit=8,
                    force_close=self._trust is not None,
                ),
                timeout=self._timeout,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                headers={"Accept": "application/json", "Accept-Encoding": "identity"},
            )
        return self._session

    async def get(self, path: str, model: type[M], params: Mapping[str, str] | None = None) -> M:
        """``GET path`` as ``model``; retried while the agent cannot be reached."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.2, max=2),
            retry=retry_if_exception_type(Unreachable),
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once("GET", path, model, params=params)
        raise AssertionError("unreachable")  # pragma: no cover (reraise=True)

    async def send(self, method: str, path: str, model: type[M], body: Wire | None = None) -> M:
        """``method path`` with a JSON ``body``, as ``model``; sent once, never retried."""
        data = body.model_dump_json().encode() if body is not None else b""
        return await self._once(method, path, model, data=data, timeout=self._action_timeout)

    async def _once(
        self,
        method: str,
        path: str,
        model: type[M],
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        timeout: aiohttp.ClientTimeout | None = None,  # noqa: ASYNC109 (aiohttp's, per request)
    ) -> M:
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            async with self._http().request(
                method,
                self.base_url + path,
                params=params,
                data=data,
                headers=headers,
                allow_redirects=False,
                server_hostname=self._server_hostname,
                timeout=timeout or self._timeout,
            ) as response:
                body = await self._read(response)
                status = response.status
        except Distrusted:
            raise Unavailable(
                f"host {self.name} showed a certificate the hub does not trust"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise Unreachable(f"host {self.name} is unreachable ({_why(exc)})") from None
        if status == 200:
            return parse(model, body, self.name)
        raise self._refusal(status, body)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise Unavailable(f"host {self.name} sent a compressed answer")
        over = Unavailable(f"host {self.name} sent an answer over {self._max_body // 1024} KiB")
        if response.content_length is not None and response.content_length > self._max_body:
            raise over
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > self._max_body:
                raise over
        return bytes(body)

    def _refusal(self, status: int, body: bytes) -> HostwardenError:
        kind = _ERRORS.get(status)
        if kind is None:
            reason = "could not answer" if status >= 500 else f"answered {status}"
            return Unavailable(f"host {self.name} {reason}")
        try:
            said = AgentError.model_validate_json(body[:4096]).message
        except ValueError:
            said = ""
        return kind(f"host {self.name}: {said}" if said else f"host {self.name} refused ({status})")

    async def close(self) -> None:
        """Close the connections."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class Distrusted(aiohttp.ClientError):
    """The agent's certificate is valid but no longer the one the hub trusts for it."""


class _CheckedConnector(aiohttp.TCPConnector):
    """Asks ``trust`` about the agent's certificate after every TLS handshake."""

    def __init__(self, name: str, trust: Trust | None, **options: Any) -> None:
        super().__init__(**options)
        self._name = name
        self._trust = trust

    async def _create_connection(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> ResponseHandler:
        protocol = await super()._create_connection(req, traces, timeout)
        if self._trust is None:
            return protocol
        transport = protocol.transport
        found = transport.get_extra_info("ssl_object") if transport is not None else None
        ssl_object = found if isinstance(found, ssl.SSLObject) else None
        if not await self._trust(peer_fingerprint(ssl_object)):
            protocol.close()
            raise Distrusted(self._name)
        return protocol


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | ssl.SSLError):
        return "TLS refused"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection refused"
    return str(clean_line(type(exc).__name__, 60))
