"""The SQL backend: SQLAlchemy 2 async over SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

from hostwarden.storage.sql.store import SqlStore, normalise_url

__all__ = ["SqlStore", "normalise_url"]
