"""Local HTTP doubles of the outside services the bot asks: an image registry and a release feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "registry-token-123"


@dataclass
class Registry:
    """Registry HTTP API v2: manifest digests behind a bearer-token challenge, as Docker Hub."""

    digests: dict[tuple[str, str], str] = field(default_factory=dict)
    require_token: bool = True
    url: str = ""
    requests: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        async def manifest(request: web.Request) -> web.Response:
            repo, tag = request.match_info["repo"], request.match_info["tag"]
            self.requests.append(f"{request.method} {repo}:{tag}")
            if self.require_token and request.headers.get("Authorization") != f"Bearer {TOKEN}":
                challenge = (
                    f'Bearer realm="{self.url}/token",service="double",'
                    f'scope="repository:{repo}:pull"'
                )
                return web.Response(status=401, headers={"WWW-Authenticate": challenge})
            digest = self.digests.get((repo, tag))
            if digest is None:
                return web.Response(status=404)
            return web.Response(headers={"Docker-Content-Digest": digest})

        async def token(request: web.Request) -> web.Response:
            assert request.query.get("scope", "").startswith("repository:")
            return web.json_response({"token": TOKEN})

        app = web.Application()
        app.router.add_route("*", "/v2/{repo:.+}/manifests/{tag}", manifest)
        app.router.add_get("/token", token)
        return app


@dataclass
class ReleaseFeed:
    """GitHub's releases API, answering ``/releases/latest`` with ``body``."""

    body: Any = None
    status: int = 200
    url: str = ""

    def app(self) -> web.Application:
        async def latest(request: web.Request) -> web.Response:
            return web.json_response(self.body, status=self.status)

        app = web.Application()
        app.router.add_get("/releases/latest", latest)
        return app


@asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[int]:
    """``app`` on a free loopback port, for as long as the block runs; yields the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serving(double: Registry | ReleaseFeed) -> AsyncIterator[str]:
    async with serve_app(double.app()) as port:
        double.url = f"http://127.0.0.1:{port}"
        yield double.url
