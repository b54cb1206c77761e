"""Alembic migrations, applied at start (``upgrade head``) on an open connection."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from hostwarden.storage.sql.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at hostwarden's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision; safe when several processes start at once."""
    async with db.write() as conn:
        if db.dialect == "postgresql":
            # Serialises concurrent starts; SQLite's BEGIN IMMEDIATE already does.
            await conn.execute(text("SELECT pg_advisory_xact_lock(7215036)"))
        await conn.run_sync(_upgrade)
