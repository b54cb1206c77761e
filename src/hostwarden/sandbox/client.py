"""Acting as Telegram users against a running sandbox, and reading the bot's answers."""

from __future__ import annotations

from typing import Any

import aiohttp

from hostwarden.errors import InvalidInput, Unavailable


class SandboxClient:
    """``async with SandboxClient(url) as chat: await chat.converse(1001, "/status")``."""

    def __init__(self, url: str) -> None:
        self._url = url.rstrip("/")
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SandboxClient:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def _call(self, verb: str, path: str, **kwargs: Any) -> dict[str, Any]:
        assert self._http is not None, "use SandboxClient in `async with`"
        try:
            async with self._http.request(verb, self._url + path, **kwargs) as response:
                body: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise Unavailable(
                f"no sandbox answers at {self._url} (is `hostwarden demo` running?)"
            ) from None
        if not body.get("ok"):
            raise InvalidInput(str(body.get("description", "the sandbox refused")))
        return body

    async def register(
        self, user_id: int, username: str | None = None, first_name: str = "User"
    ) -> None:
        """Make a chat exist, as if the user had pressed Start."""
        await self._call(
            "POST",
            "/sandbox/users",
            json={"user_id": user_id, "username": username, "first_name": first_name},
        )

    async def say(self, user_id: int, text: str, **user: Any) -> int:
        """Send ``text`` as ``user_id``; returns the transcript position before the bot answers."""
        body = await self._call(
            "POST", "/sandbox/say", json={"user_id": user_id, "text": text, **user}
        )
        return int(body["seq"])

    async def press(self, user_id: int, message_id: int, data: str) -> int:
        body = await self._call(
            "POST",
            "/sandbox/press",
            json={"user_id": user_id, "message_id": message_id, "data": data},
        )
        return int(body["seq"])

    async def events(
        self, after: int, chat_id: int | None = None, count: int = 1, wait: float = 0
    ) -> list[dict[str, Any]]:
        """Transcript lines after ``after``; with ``wait``, until ``count`` exist or time is up."""
        params = {"after": after, "count": count, "wait": wait}
        if chat_id is not None:
            params["chat_id"] = chat_id
        body = await self._call("GET", "/sandbox/events", params=params)
        return list(body["result"])

    async def converse(
        self, user_id: int, text: str, count: int = 1, wait: float = 15, **user: Any
    ) -> list[dict[str, Any]]:
        """Say ``text`` and return the bot's first ``count`` answers in that chat."""
        seq = await self.say(user_id, text, **user)
        return await self.events(seq, user_id, count, wait)
