"""pending entries and conversations in the store

Confirmation nonces, updates parked behind a 2FA prompt and answered console questions go in
``pending``; aiogram's FSM goes in ``conversations``. Both outlive a restart and are shared by
every hub replica on the database.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
    with op.batch_alter_table("pending", schema=None) as batch_op:
        batch_op.create_index("ix_pending_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "conversations",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=100), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index("ix_conversations_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_expires_at")
    op.drop_table("conversations")
    with op.batch_alter_table("pending", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_expires_at")
    op.drop_table("pending")
