"""Alembic environment: hostwarden always passes an open connection in."""

from __future__ import annotations

from alembic import context

from hostwarden.storage.sql.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("hostwarden runs its migrations itself at start; see storage/sql/migrate.py")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
