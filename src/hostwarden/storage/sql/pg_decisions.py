"""Guard decisions on PostgreSQL through asyncpg directly, with group commit.

A caller queues its plan and awaits a future. One writer task per store takes everything queued
as one batch (:mod:`.pg_batch`: one transaction of four statements for the whole batch), answers
every caller once it has committed, then takes what queued up meanwhile. A decision that arrives
alone starts a batch on the event loop's next turn: it waits for no company. The store's own
SQLAlchemy engine stays for the schema, the migrations and every other query; this path opens an
asyncpg pool of its own, from the same URL, on the first decision.

A batch that fails before its commit fails every caller in it (closed, never open). A lost
server (connection refused or broken, shut down, out of resources) is reported to the store's
:class:`~hostwarden.core.health.StoreHealth` with a short reason that holds no credentials, and
the pool is dropped, so the next batch connects afresh and a server that is back is used again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, cast

import asyncpg  # type: ignore[import-untyped]  # no type stubs; used through the protocols below

from hostwarden.core.viewing import ViewPlan
from hostwarden.errors import StorageError, scrub
from hostwarden.storage.sql.availability import MAX_REASON, unavailable_reason
from hostwarden.storage.sql.pg_batch import Connection, decide_batch
from hostwarden.storage.sql.pg_views import view_on

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from hostwarden.core.decision import DecisionPlan, DecisionResult
    from hostwarden.core.health import StoreHealth
    from hostwarden.core.viewing import SessionView

LOG = logging.getLogger("hostwarden.store")
# Batches run one after another, so a process's audit ids follow its decisions: the writer
# never holds more than one connection. The pool reopens it when the server dropped it.
CONNECTIONS = 1
CLOSE_SECONDS = 10.0
# A decision, or a console request's view (core/viewing.py), with the future its caller awaits.
_Item = tuple["DecisionPlan | ViewPlan", "asyncio.Future[Any]"]

# Lost, not merely failed: no connection, the server shutting down or refusing new work, the
# database or role gone. A query cancelled by a timeout is an error of that batch alone.
_OUTAGES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InsufficientResourcesError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
)


class Pool(Protocol):
    """The part of ``asyncpg.Pool`` used here."""

    def acquire(self) -> AbstractAsyncContextManager[Connection]: ...
    async def close(self) -> None: ...
    def terminate(self) -> None: ...


def connect_args(engine: AsyncEngine) -> dict[str, Any]:
    """``asyncpg.connect`` keyword arguments for the engine's URL, as SQLAlchemy passes them.

    They hold the password: they are never logged, and no DSN string is built from them.
    """
    _, params = engine.dialect.create_connect_args(engine.url)
    args = dict(params)
    for sqlalchemy_only in ("async_creator_fn", "prepared_statement_name_func"):
        args.pop(sqlalchemy_only, None)
    if "prepared_statement_cache_size" in args:
        args["statement_cache_size"] = args.pop("prepared_statement_cache_size")
    return args


def outage_reason(exc: BaseException, secrets: tuple[str, ...] = ()) -> str | None:
    """A short reason if ``exc`` means the database cannot be used, else ``None``."""
    closed = isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)
    reason: str | None = None
    if isinstance(exc, _OUTAGES) or closed:
        text = str(exc).strip().splitlines()[0][:MAX_REASON] if str(exc).strip() else ""
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    elif isinstance(exc, OSError | TimeoutError):
        reason = unavailable_reason(exc)
    return scrub(reason, secrets) if reason is not None else None


class PgDecisions:
    """The PostgreSQL store's :class:`~hostwarden.storage.base.DecisionStore` (group commit)."""

    def __init__(self, connect: Mapping[str, Any], health: StoreHealth) -> None:
        self._connect = dict(connect)
        password = self._connect.get("password")
        self._secrets = (str(password),) if password else ()
        self._health = health
        self._pool: Pool | None = None
        self._pending: list[_Item] = []
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    async def decide(self, plan: DecisionPlan) -> DecisionResult:
        return cast("DecisionResult", await self._queue(plan))

    async def view(self, plan: ViewPlan) -> SessionView:
        """A console request's access work (:mod:`.pg_views`), by this store's writer."""
        return cast("SessionView", await self._queue(plan))

    async def _queue(self, work: DecisionPlan | ViewPlan) -> Any:
        if self._closed:
            raise StorageError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((work, future))
        if self._writer is None:
            self._writer = loop.create_task(self._drain(), name="hostwarden-decisions")
        return await future

    async def close(self) -> None:
        """Answer what is queued, then close the pool."""
        self._closed = True
        if self._writer is not None:
            await asyncio.wait([self._writer])
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), CLOSE_SECONDS)
            except Exception:  # a lost server or a stuck connection: close it hard
                pool.terminate()

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._run(batch)
        finally:
            self._writer = None

    async def _run(self, batch: list[_Item]) -> None:
        plans = [item for item in batch if not isinstance(item[0], ViewPlan)]
        if plans:
            await self._decide(plans)
        for item in batch:
            if isinstance(item[0], ViewPlan):
                await self._view(item[0], item[1])

    async def _view(self, plan: ViewPlan, future: asyncio.Future[Any]) -> None:
        """One view in a transaction of its own: a failure is its caller's alone."""
        try:
            pool = await self._usable_pool()
            async with pool.acquire() as conn:
                seen = await view_on(conn, plan)
        except Exception as exc:
            self._settle([(plan, future)], exc)
            return
        except BaseException:
            future.cancel()
            raise
        self._health.ok()
        if not future.done():
            future.set_result(seen)

    async def _decide(self, batch: list[_Item]) -> None:
        try:
            pool = await self._usable_pool()
            async with pool.acquire() as conn:
                answers = await decide_batch(conn, [cast("DecisionPlan", p) for p, _ in batch])
        except Exception as exc:
            self._settle(batch, exc)
            return
        except BaseException:  # cancelled (the loop is closing): nobody waits forever
            for _, future in batch:
                future.cancel()
            raise
        self._health.ok()
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():  # the caller gave up; its decision still stands
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _usable_pool(self) -> Pool:
        if self._pool is None:
            pool: Pool = await asyncpg.create_pool(
                min_size=1, max_size=CONNECTIONS, **self._connect
            )
            self._pool = pool
        return self._pool

    def _settle(self, batch: list[_Item], exc: Exception) -> None:
        """Fail every caller of a batch that did not commit; report a lost server."""
        reason = outage_reason(exc, self._secrets)
        if reason is not None:
            self._health.failed(reason)
            pool, self._pool = self._pool, None
            if pool is not None:  # its connections may all be broken: start afresh next time
                with contextlib.suppress(Exception):
                    pool.terminate()
            failure: Exception = StorageError(f"store unavailable: {reason}")
            failure.__cause__ = exc
        else:
            failure = exc
        for _, future in batch:
            if not future.done():
                future.set_exception(failure)
