"""counters without the last_seen index

Every counted request rewrites its counter's ``last_seen``; the index on it made each of those
writes touch a second page (one more WAL frame per commit on SQLite; no HOT update on
PostgreSQL), about a quarter of an allowed decision's time on SQLite. Only the periodic prune
filtered on it; it now walks the counters in key order, a few thousand per transaction
(``SqlCounters.prune``), so no single transaction scans them all.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.drop_index("ix_counters_last_seen")


def downgrade() -> None:
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.create_index("ix_counters_last_seen", ["last_seen"], unique=False)
