"""The sandbox's HTTP server: the Bot API, the user side, and webhook delivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from hostwarden.sandbox.botapi import make_handler
from hostwarden.sandbox.state import SandboxState
from hostwarden.sandbox.userapi import routes

LOG = logging.getLogger("hostwarden.sandbox")


def make_app(state: SandboxState) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/bot{token}/{method}", make_handler(state))
    app.add_routes(routes(state))
    return app


async def push_webhook(state: SandboxState, stop: asyncio.Event) -> None:
    """While a webhook is set, POST each update to it, as Telegram does, retrying failures."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        while not stop.is_set():
            async with state.changed:
                await state.changed.wait_for(
                    lambda: (
                        stop.is_set()
                        or state.closing
                        or (state.webhook is not None and bool(state.updates))
                    )
                )
            hook = state.webhook
            if stop.is_set() or hook is None or not state.updates:
                continue
            update = state.updates[0]
            headers = {"Content-Type": "application/json"}
            if hook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = str(hook["secret_token"])
            try:
                async with http.post(hook["url"], json=update, headers=headers) as response:
                    delivered = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                delivered = False
            if delivered and state.updates and state.updates[0] is update:
                state.updates.pop(0)
            elif not delivered:
                hook["last_error"] = "delivery failed"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)


@dataclass
class RunningSandbox:
    state: SandboxState
    url: str

    def api_base(self) -> str:
        """What to put in ``telegram.api_base``."""
        return self.url


@contextlib.asynccontextmanager
async def serve(
    token: str, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSandbox]:
    """Run a sandbox until the block exits; ``port=0`` picks a free port."""
    state = SandboxState(token)
    runner = web.AppRunner(make_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    stop = asyncio.Event()
    pusher = asyncio.create_task(push_webhook(state, stop))
    try:
        yield RunningSandbox(state, f"http://{host}:{bound}")
    finally:
        stop.set()
        state.closing = True
        await state.notify()
        await pusher
        await runner.cleanup()
