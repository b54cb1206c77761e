"""Wiring for the front ends: settings in, a started core over the configured store out."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.engine import make_url
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from hostwarden.config import Settings
from hostwarden.containers.redact import mask_secrets
from hostwarden.core.clock import Clock
from hostwarden.core.policy import Policy
from hostwarden.core.service import AccessCore
from hostwarden.errors import Unavailable, scrub
from hostwarden.logs import JsonFormatter as JsonFormatter
from hostwarden.logs import configure_logging as configure_logging
from hostwarden.storage.sql import SqlStore
from hostwarden.storage.sql.db import normalise_url

if TYPE_CHECKING:
    from aiogram import Bot

T = TypeVar("T")
LOG = logging.getLogger("hostwarden.start")

#: Tries of a start-up step that fails on the network before giving up (then systemd's
#: ``Restart=on-failure`` or the container's restart policy takes over).
START_ATTEMPTS = 8
#: The first wait between tries, in seconds; it doubles each time up to :data:`START_WAIT_MAX`.
START_WAIT = 1.0
START_WAIT_MAX = 60.0

#: The data directory's mode: its owner only.
DIR_MODE = 0o700
#: The database file's mode (and its -wal and -shm companions, and backups).
FILE_MODE = 0o600


def freeze_startup_heap() -> None:
    """Hide everything alive once the front end is wired from the cyclic garbage collector.

    Imports and wiring leave a few million long-lived objects (aiogram's and pydantic's types,
    SQLAlchemy's metadata); every full collection walked them all, 0.2-0.4 s with the event loop
    stopped, several times a minute under a flood of updates. Frozen, they are never scanned
    (``gc.freeze``). What it allocates afterwards (a task, an update and a decision per message)
    almost all dies by reference counting; a young generation of 10,000 instead of 700 objects
    makes collections rarer, and with them the full ones that walk everything since start-up.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def sqlite_path(url: str) -> Path | None:
    """The SQLite file ``url`` (or a plain path) names; None for PostgreSQL or in-memory."""
    parsed = make_url(normalise_url(url))
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    return None if name.startswith("file:") else Path(name)


def _tighten(path: Path, mode: int) -> None:
    """Take group and other permissions off ``path`` if it is ours and has any."""
    info = path.stat()
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(mode)


def prepare_state(settings: Settings, database: str | None = None) -> Path | None:
    """Create the SQLite file the store will open, private: folder 0700, file 0600.

    The configured data directory is made 0700 (created so, or tightened if it is ours); a
    folder given with ``--database`` is only created, never changed. The file and its WAL
    companions are created or tightened to 0600, as SQLite gives them the file's mode. Returns
    the file, or None when the store is not an SQLite file.
    """
    path = sqlite_path(database or settings.storage.database_url())
    if path is None:
        return None
    folder = path.parent
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if database is None and settings.storage.url is None:
        _tighten(folder, DIR_MODE)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if companion.exists():
            _tighten(companion, FILE_MODE)
    return path


@asynccontextmanager
async def open_core(
    settings: Settings,
    database: str | None = None,
    clock: Clock | None = None,
    policy: Policy | None = None,
) -> AsyncIterator[AccessCore]:
    """A started core over ``database`` (or the configured store); closed on exit.

    An SQLite file is created private first (:func:`prepare_state`).
    """
    prepare_state(settings, database)
    store = SqlStore(database or settings.storage.database_url())
    core = AccessCore(store, settings.core(), clock, policy)
    try:
        await core.start()
        yield core
    finally:
        await core.close()


async def retry_at_start(
    step: Callable[[], Awaitable[T]],
    what: str,
    retry_on: Callable[[BaseException], bool],
    sleep: Callable[[float], Awaitable[None]],
) -> T:
    """Run ``step``, retrying failures ``retry_on`` accepts, with exponential back-off (tenacity).

    Each failed try is logged once, with the wait before the next; after
    :data:`START_ATTEMPTS` tries the last failure becomes one :class:`Unavailable` line.
    ``sleep`` is injected: the bot passes one that a stop request cuts short, tests a fake.
    """

    def log(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        LOG.warning(
            "%s failed (try %d of %d): %s; next try in %.0f s",
            what, state.attempt_number, START_ATTEMPTS, _reason(failure), wait,
        )  # fmt: skip

    retrying = AsyncRetrying(
        sleep=sleep,
        stop=stop_after_attempt(START_ATTEMPTS),
        wait=wait_exponential(multiplier=START_WAIT, max=START_WAIT_MAX),
        retry=retry_if_exception(retry_on),
        before_sleep=log,
        reraise=True,
    )
    try:
        return await retrying(step)
    except Exception as exc:
        if not retry_on(exc):
            raise
        message = f"{what} failed {START_ATTEMPTS} times, giving up: {_reason(exc)}"
        LOG.error("%s", message)
        raise Unavailable(message) from None


def _reason(exc: BaseException | None) -> str:
    """An exception as a short line, with secrets masked."""
    if exc is None:
        return "unknown error"
    text = " ".join(str(exc).split())[:200]
    return mask_secrets(scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__))


async def _wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _telegram_down(exc: BaseException) -> bool:
    """Whether ``exc`` is Telegram unreachable (worth a retry), not a wrong URL or token."""
    from aiogram.exceptions import TelegramNetworkError, TelegramServerError

    if isinstance(exc, TelegramNetworkError):  # aiogram wraps every aiohttp error in it
        return "InvalidUrl" not in str(exc)
    return isinstance(exc, TelegramServerError)


async def reach_telegram(bot: Bot, stop: asyncio.Event, leave_webhook: bool) -> bool:
    """Ask ``getMe`` (aiogram keeps the answer) and, to poll, leave webhook mode; retried.

    Returns False when ``stop`` was set meanwhile (then there is nothing to start).
    """

    async def step() -> None:
        if stop.is_set():
            return
        await bot.me()
        if leave_webhook:
            await bot.delete_webhook(drop_pending_updates=False)

    await retry_at_start(
        step, "reaching the Bot API", _telegram_down, lambda s: _wait_or_stop(stop, s)
    )
    return not stop.is_set()
