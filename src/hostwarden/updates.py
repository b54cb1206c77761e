"""Is there a newer hostwarden? The installed version against a release feed.

The feed speaks GitHub's releases API: either one release object (``/releases/latest``) or a
list of them (``/releases``), each with ``tag_name``, ``html_url``, ``draft`` and ``prerelease``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field

from hostwarden import __version__
from hostwarden.core.settings import MAX_URL_LENGTH
from hostwarden.errors import Unavailable

#: Said by ``/check_bot_updates`` while no feed is configured.
NOT_CONFIGURED = (
    "No release feed is configured, so hostwarden cannot tell whether a newer version is out. "
    "Set updates.release_feed_url to a GitHub-style releases URL to check."
)


class UpdateSettings(BaseModel):
    """The ``updates`` section of the config.

    hostwarden has no release feed of its own yet, so none is assumed: with no
    ``release_feed_url`` the check says that none is configured.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    release_feed_url: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="a GitHub-style releases API URL (none: no update check)",
    )
    timeout_seconds: float = Field(10, gt=0, le=120, description="at most 120 s")


@dataclass(frozen=True, slots=True)
class ReleaseCheck:
    installed: str
    latest: str
    url: str

    @property
    def update_available(self) -> bool:
        return Version(self.latest) > Version(self.installed)


def _version(tag: str) -> Version | None:
    try:
        return Version(tag.strip().removeprefix("v"))
    except InvalidVersion:
        return None


def newest_release(body: Any) -> tuple[Version, str] | None:
    """The newest stable release in a feed body, with its page URL."""
    releases = body if isinstance(body, list) else [body]
    best: tuple[Version, str] | None = None
    for release in releases:
        if not isinstance(release, dict) or release.get("draft") or release.get("prerelease"):
            continue
        version = _version(str(release.get("tag_name", "")))
        if version is not None and (best is None or version > best[0]):
            best = (version, str(release.get("html_url") or ""))
    return best


class ReleaseChecker:
    """Fetches the feed and compares its newest stable release with ``installed``."""

    def __init__(self, settings: UpdateSettings, installed: str = __version__) -> None:
        self._settings = settings
        self._installed = installed

    @property
    def configured(self) -> bool:
        """Whether there is a feed to ask."""
        return self._settings.release_feed_url is not None

    async def check(self) -> ReleaseCheck:
        """The newest stable release against the installed one; Unavailable if none is known."""
        if self._settings.release_feed_url is None:
            raise Unavailable(NOT_CONFIGURED)
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
        headers = {
            "Accept": "application/vnd.github+json",
            "User-Agent": f"hostwarden/{self._installed}",
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(self._settings.release_feed_url, headers=headers) as response,
            ):
                if response.status != 200:
                    raise Unavailable(f"the release feed answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise Unavailable(f"the release feed is unreachable ({type(exc).__name__})") from None
        newest = newest_release(body)
        if newest is None:
            raise Unavailable("the release feed lists no stable release")
        return ReleaseCheck(self._installed, str(newest[0]), newest[1])
