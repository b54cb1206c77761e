"""/images' update check asks the engine for the registry's digest (private registries work)."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from hostwarden.containers.engine import ImageSummary
from hostwarden.containers.registry import RegistryChecker, UpdateState
from hostwarden.containers.settings import ContainerSettings
from tests.doubles import serve_app

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
PRIVATE = "registry.private.test/team/app:1"


class Engine:
    """An engine double: ping, version, and /distribution/NAME/json from a table."""

    def __init__(self) -> None:
        self.digests: dict[str, str] = {}
        self.status = 200
        self.asked: list[tuple[str, str | None]] = []

    async def answer(self, request: web.Request) -> web.Response:
        found = re.search(r"/distribution/(.+)/json$", request.path)
        if found is None:
            if request.path.endswith("/_ping"):
                return web.Response(text="OK")
            return web.json_response({"ApiVersion": "1.43", "Version": "24.0.0"})
        name = found.group(1)
        self.asked.append((name, request.headers.get("X-Registry-Auth")))
        if self.status != 200:
            return web.json_response({"message": "denied: requested access"}, status=self.status)
        if name not in self.digests:
            return web.json_response({"message": f"manifest unknown: {name}"}, status=404)
        body = {"Descriptor": {"digest": self.digests[name]}, "Platforms": []}
        return web.json_response(body)


@contextlib.asynccontextmanager
async def serving(engine: Engine) -> AsyncIterator[str]:
    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", engine.answer)
    async with serve_app(application) as port:
        yield f"tcp://127.0.0.1:{port}"


def image(reference: str, digest: str) -> ImageSummary:
    name = reference.rsplit(":", 1)[0]
    return ImageSummary("abc", (reference,), (f"{name}@{digest}",), 1, None)


async def test_a_private_image_is_checked_through_the_engine_with_its_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = base64.b64encode(b"robot:s3cret").decode()
    config = {"auths": {"registry.private.test": {"auth": auth}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # `docker login` wrote this
    engine = Engine()
    async with serving(engine) as url:
        checker = RegistryChecker(ContainerSettings(docker_url=url, registries={}))
        engine.digests[PRIVATE] = OLD
        [same] = await checker.check([image(PRIVATE, OLD)])
        engine.digests[PRIVATE] = NEW
        [newer] = await checker.check([image(PRIVATE, OLD)])
        [unknown] = await checker.check([image("registry.private.test/team/gone:2", OLD)])
        engine.status = 403
        [refused] = await checker.check([image(PRIVATE, OLD)])
    assert same.state is UpdateState.UP_TO_DATE
    assert newer.state is UpdateState.UPDATE_AVAILABLE and NEW[:19] in newer.detail
    assert unknown.state is UpdateState.UNKNOWN and "does not know" in unknown.detail
    assert refused.state is UpdateState.UNKNOWN
    assert refused.detail.startswith("the engine could not ask the registry: denied")
    name, header = engine.asked[0]
    assert name == PRIVATE and header is not None
    assert json.loads(base64.urlsafe_b64decode(header + "=="))["username"] == "robot"


async def test_an_unreachable_engine_is_an_unknown_with_the_reason() -> None:
    settings = ContainerSettings(docker_url="tcp://127.0.0.1:1", registries={})
    [result] = await RegistryChecker(settings).check([image(PRIVATE, OLD)])
    assert result.state is UpdateState.UNKNOWN
    assert result.detail.startswith("the container engine is unreachable")


async def test_a_configured_registry_is_asked_directly_not_through_the_engine() -> None:
    engine = Engine()
    async with serving(engine) as url:
        settings = ContainerSettings(
            docker_url=url, registries={"registry.private.test": "http://127.0.0.1:1"}
        )
        [result] = await RegistryChecker(settings).check([image(PRIVATE, OLD)])
    assert engine.asked == []  # the HTTP API v2 path (here unreachable) was used instead
    assert result.detail.startswith("registry unreachable")
