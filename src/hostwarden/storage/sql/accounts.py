"""SQL repositories for users, sessions, TOTP factors and 2FA grants."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hostwarden.core.identity import Role, User
from hostwarden.errors import Conflict, NotFound
from hostwarden.storage.base import SessionRecord, TotpFactor
from hostwarden.storage.sql import tables as t
from hostwarden.storage.sql.db import Database


def _roles_text(roles: frozenset[Role]) -> str:
    return ",".join(sorted(r.value for r in roles))


def _roles(text: str) -> frozenset[Role]:
    return frozenset(Role(v) for v in text.split(",") if v)


class SqlUsers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self, conn: AsyncConnection, row: Any) -> User:
        """The user of a ``users`` row, with its Telegram IDs, inside ``conn``."""
        ids = await conn.execute(
            select(t.telegram_ids.c.telegram_id)
            .where(t.telegram_ids.c.user_id == row.id)
            .order_by(t.telegram_ids.c.telegram_id)
        )
        return User(
            id=row.id,
            username=row.username,
            telegram_ids=tuple(i for (i,) in ids),
            roles=_roles(row.roles),
            password_hash=row.password_hash,
            locked=bool(row.locked),
            created_at=row.created_at,
        )

    async def get(self, username: str) -> User | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(t.users).where(t.users.c.username_key == username.casefold())
                )
            ).first()
            return await self.load(conn, row) if row else None

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        query = select(t.users).join(t.telegram_ids, t.telegram_ids.c.user_id == t.users.c.id)
        async with self._db.read() as conn:
            row = (
                await conn.execute(query.where(t.telegram_ids.c.telegram_id == telegram_id))
            ).first()
            return await self.load(conn, row) if row else None

    async def by_id(self, user_id: int) -> User | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(t.users).where(t.users.c.id == user_id))).first()
            return await self.load(conn, row) if row else None

    def _values(self, user: User) -> dict[str, Any]:
        return {
            "username": user.username,
            "username_key": user.username.casefold(),
            "roles": _roles_text(user.roles),
            "password_hash": user.password_hash,
            "locked": user.locked,
            "created_at": user.created_at,
        }

    async def create(self, user: User) -> User:
        try:
            async with self._db.write() as conn:
                result = await conn.execute(
                    t.users.insert().values(**self._values(user)).returning(t.users.c.id)
                )
                new_id = result.scalar_one()
                for telegram_id in user.telegram_ids:
                    await conn.execute(
                        t.telegram_ids.insert().values(telegram_id=telegram_id, user_id=new_id)
                    )
        except IntegrityError:
            raise Conflict(
                f"user {user.username!r} or one of its Telegram IDs already exists"
            ) from None
        return User(new_id, *self._tail(user))

    @staticmethod
    def _tail(user: User) -> tuple[Any, ...]:
        return (
            user.username,
            user.telegram_ids,
            user.roles,
            user.password_hash,
            user.locked,
            user.created_at,
        )

    async def update(self, user: User) -> User:
        try:
            async with self._db.write() as conn:
                values = self._values(user)
                del values["created_at"]
                result = await conn.execute(
                    update(t.users).where(t.users.c.id == user.id).values(**values)
                )
                if result.rowcount == 0:
                    raise NotFound(f"no user {user.username!r}")
                await conn.execute(
                    delete(t.telegram_ids).where(t.telegram_ids.c.user_id == user.id)
                )
                for telegram_id in user.telegram_ids:
                    await conn.execute(
                        t.telegram_ids.insert().values(telegram_id=telegram_id, user_id=user.id)
                    )
        except IntegrityError:
            raise Conflict("that name or Telegram ID belongs to another user") from None
        return user

    async def list(self) -> list[User]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(t.users).order_by(t.users.c.id))).all()
            return [await self.load(conn, row) for row in rows]

    async def delete(self, user_id: int) -> bool:
        # One transaction: the rows that name the user go first, then the account (whose
        # Telegram IDs the foreign key's ON DELETE CASCADE would take too; deleted here anyway).
        async with self._db.write() as conn:
            for table in (
                t.telegram_ids,
                t.sessions,
                t.totp_factors,
                t.totp_steps,
                t.recovery_codes,
                t.elevations,
            ):
                await conn.execute(delete(table).where(table.c.user_id == user_id))
            result = await conn.execute(delete(t.users).where(t.users.c.id == user_id))
            return bool(result.rowcount)


def _session(row: Any) -> SessionRecord:
    return SessionRecord(
        row.token_hash,
        row.user_id,
        row.created_at,
        row.last_seen,
        row.ip,
        row.user_agent,
        row.mfa_at,
    )


class SqlSessions:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, record: SessionRecord) -> None:
        values = {
            "token_hash": record.token_hash,
            "user_id": record.user_id,
            "created_at": record.created_at,
            "last_seen": record.last_seen,
            "ip": record.ip,
            "user_agent": (record.user_agent or "")[:512] or None,
            "mfa_at": record.mfa_at,
        }
        async with self._db.write() as conn:
            await conn.execute(self._db.upsert(t.sessions, values, ["token_hash"]))

    async def touch(
        self, token_hash: str, now: datetime, idle_after: datetime, created_after: datetime
    ) -> SessionRecord | None:
        s = t.sessions.c
        statement = (
            update(t.sessions)
            .where(
                s.token_hash == token_hash, s.last_seen > idle_after, s.created_at > created_after
            )
            .values(last_seen=now)
            .returning(*t.sessions.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(statement)).first()
        return _session(row) if row else None

    async def delete(self, token_hash_prefix: str, user_id: int | None = None) -> int:
        statement = delete(t.sessions)
        if token_hash_prefix:
            statement = statement.where(t.sessions.c.token_hash.startswith(token_hash_prefix))
        if user_id is not None:
            statement = statement.where(t.sessions.c.user_id == user_id)
        async with self._db.write() as conn:
            return (await conn.execute(statement)).rowcount

    async def purge(self, idle_before: datetime, created_before: datetime) -> int:
        s = t.sessions.c
        statement = delete(t.sessions).where(
            (s.last_seen <= idle_before) | (s.created_at <= created_before)
        )
        async with self._db.write() as conn:
            return (await conn.execute(statement)).rowcount

    async def list(self, user_id: int | None = None) -> list[SessionRecord]:
        query = select(t.sessions).order_by(t.sessions.c.created_at)
        if user_id is not None:
            query = query.where(t.sessions.c.user_id == user_id)
        async with self._db.read() as conn:
            return [_session(row) for row in await conn.execute(query)]


class SqlTotp:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_factor(self, user_id: int) -> TotpFactor | None:
        query = select(t.totp_factors).where(t.totp_factors.c.user_id == user_id)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return TotpFactor(row.user_id, row.secret_encrypted, bool(row.confirmed), row.created_at)

    async def put_factor(self, factor: TotpFactor | None, user_id: int) -> None:
        async with self._db.write() as conn:
            if factor is None:
                await conn.execute(
                    delete(t.totp_factors).where(t.totp_factors.c.user_id == user_id)
                )
                await conn.execute(
                    delete(t.recovery_codes).where(t.recovery_codes.c.user_id == user_id)
                )
                return
            values = {
                "user_id": user_id,
                "secret_encrypted": factor.secret_encrypted,
                "confirmed": factor.confirmed,
                "created_at": factor.created_at,
            }
            await conn.execute(self._db.upsert(t.totp_factors, values, ["user_id"]))

    async def claim_step(self, user_id: int, step: int, now: datetime) -> bool:
        statement = (
            self._db.insert(t.totp_steps)
            .values(user_id=user_id, step=step, used_at=now)
            .on_conflict_do_nothing(index_elements=["user_id", "step"])
        )
        async with self._db.write() as conn:
            claimed = (await conn.execute(statement)).rowcount == 1
            await conn.execute(
                delete(t.totp_steps).where(
                    t.totp_steps.c.user_id == user_id,
                    t.totp_steps.c.used_at < now - timedelta(hours=1),
                )
            )
        return claimed

    async def set_recovery(self, user_id: int, code_hashes: list[str]) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                delete(t.recovery_codes).where(t.recovery_codes.c.user_id == user_id)
            )
            for code_hash in code_hashes:
                await conn.execute(
                    t.recovery_codes.insert().values(user_id=user_id, code_hash=code_hash)
                )

    async def use_recovery(self, user_id: int, code_hash: str) -> bool:
        r = t.recovery_codes.c
        statement = delete(t.recovery_codes).where(r.user_id == user_id, r.code_hash == code_hash)
        async with self._db.write() as conn:
            return (await conn.execute(statement)).rowcount == 1


class SqlElevations:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def grant(self, user_id: int, channel: str, at: datetime) -> None:
        values = {"user_id": user_id, "channel": channel, "granted_at": at}
        async with self._db.write() as conn:
            await conn.execute(self._db.upsert(t.elevations, values, ["user_id", "channel"]))

    async def granted_at(self, user_id: int, channel: str) -> datetime | None:
        e = t.elevations.c
        query = select(e.granted_at).where(e.user_id == user_id, e.channel == channel)
        async with self._db.read() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    async def revoke(self, user_id: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(t.elevations).where(t.elevations.c.user_id == user_id))
