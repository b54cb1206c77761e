"""Is a local image the registry's latest? Its local digests against the registry's.

The registry's digest comes from the container engine (the docker SDK's
``images.get_registry_data``), which asks the registry itself, so private registries work with
the engine client's credentials (``docker login``). Registries named in
``containers.registries`` are asked directly over the Registry HTTP API v2 instead (anonymous,
with a bearer-token challenge): the default lists Docker Hub, and tests point it at a double.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
import docker
import docker.errors
import requests

from hostwarden.containers.engine import ImageSummary
from hostwarden.containers.settings import ContainerSettings

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True, slots=True)
class ImageRef:
    """``registry/repository:tag`` split up, with Docker Hub's defaults filled in."""

    registry: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, reference: str) -> ImageRef:
        name, tag = reference.split("@", 1)[0], "latest"
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = name.rsplit(":", 1)
        first, _, rest = name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, rest
        else:
            registry, repository = "docker.io", name
        if registry == "docker.io" and "/" not in repository:
            repository = f"library/{repository}"
        return cls(registry, repository, tag)


class UpdateState(StrEnum):
    UP_TO_DATE = "up to date"
    UPDATE_AVAILABLE = "update available"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ImageUpdate:
    reference: str
    state: UpdateState
    detail: str = ""


def _local_digests(image: ImageSummary, ref: ImageRef) -> set[str]:
    digests = set()
    for item in image.repo_digests:
        name, _, digest = item.partition("@")
        parsed = ImageRef.parse(name)
        if (parsed.registry, parsed.repository) == (ref.registry, ref.repository):
            digests.add(digest)
    return digests


class EngineUnsure(Exception):
    """The engine could not tell the registry's digest; the message says why (one line)."""


class EngineDigests:
    """The registry's digest for a reference, as the container engine finds it."""

    def __init__(self, settings: ContainerSettings) -> None:
        self._settings = settings

    async def digest(self, reference: str) -> str | None:
        """The digest, None when the registry does not know the tag; EngineUnsure otherwise."""
        url, timeout = self._settings.docker_url, self._settings.registry_timeout_seconds

        def ask() -> str | None:
            client = docker.DockerClient(base_url=url, timeout=max(1, int(timeout)))
            try:
                found = client.images.get_registry_data(reference).id
            finally:
                client.close()
            return str(found) if found else None

        try:
            return await asyncio.wait_for(asyncio.to_thread(ask), timeout)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            text = " ".join(str(exc.explanation or exc).split())[:160]
            raise EngineUnsure(f"the engine could not ask the registry: {text}") from None
        except (docker.errors.DockerException, requests.RequestException, TimeoutError) as exc:
            raise EngineUnsure(
                f"the container engine is unreachable ({type(exc).__name__})"
            ) from None


class RegistryChecker:
    """Asks each image's registry for the digest of its tag and compares it with the local one."""

    def __init__(self, settings: ContainerSettings, engine: EngineDigests | None = None) -> None:
        self._settings = settings
        self._engine = engine or EngineDigests(settings)

    def base_url(self, registry: str) -> str:
        return self._settings.registries.get(registry, f"https://{registry}").rstrip("/")

    async def check(self, images: list[ImageSummary]) -> list[ImageUpdate]:
        """One result per tag of every image; a failure is an ``unknown`` with the reason."""
        timeout = aiohttp.ClientTimeout(total=self._settings.registry_timeout_seconds)
        results = []
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for image in images:
                for tag in image.tags:
                    results.append(await self._check_one(http, image, tag))
        return results

    async def _check_one(
        self, http: aiohttp.ClientSession, image: ImageSummary, reference: str
    ) -> ImageUpdate:
        ref = ImageRef.parse(reference)
        local = _local_digests(image, ref)
        if not local:
            return ImageUpdate(reference, UpdateState.UNKNOWN, "no registry digest (built locally)")
        try:
            if ref.registry in self._settings.registries:
                remote = await self.remote_digest(http, ref)
            else:
                remote = await self._engine.digest(reference)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return ImageUpdate(
                reference, UpdateState.UNKNOWN, f"registry unreachable ({type(exc).__name__})"
            )
        except EngineUnsure as exc:
            return ImageUpdate(reference, UpdateState.UNKNOWN, str(exc))
        if remote is None:
            return ImageUpdate(
                reference, UpdateState.UNKNOWN, "the registry does not know this tag"
            )
        if remote in local:
            return ImageUpdate(reference, UpdateState.UP_TO_DATE)
        return ImageUpdate(reference, UpdateState.UPDATE_AVAILABLE, f"registry has {remote[:19]}")

    async def remote_digest(self, http: aiohttp.ClientSession, ref: ImageRef) -> str | None:
        """The registry's digest for ``ref``, following a bearer-token challenge once."""
        url = f"{self.base_url(ref.registry)}/v2/{ref.repository}/manifests/{ref.tag}"
        headers = {"Accept": MANIFEST_TYPES}
        async with http.head(url, headers=headers) as response:
            if response.status == 401:
                token = await self._token(http, response.headers.get("WWW-Authenticate", ""))
                if token is None:
                    return None
                headers["Authorization"] = f"Bearer {token}"
            elif response.status == 404:
                return None
            else:
                response.raise_for_status()
                return response.headers.get("Docker-Content-Digest")
        async with http.head(url, headers=headers) as response:
            if response.status in (401, 403, 404):
                return None
            response.raise_for_status()
            return response.headers.get("Docker-Content-Digest")

    async def _token(self, http: aiohttp.ClientSession, challenge: str) -> str | None:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() != "bearer":
            return None
        values = dict(_CHALLENGE_PARAM.findall(params))
        realm = values.pop("realm", None)
        if not realm:
            return None
        async with http.get(realm, params=values) as response:
            if response.status != 200:
                return None
            body = await response.json(content_type=None)
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        return str(token) if token else None
