"""fleet: enrolled hosts and pending enrolment tokens

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_hosts",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=300), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("not_after", sa.DateTime(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=True),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("fingerprint"),
    )
    op.create_table(
        "fleet_enrolments",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("secret_hash"),
    )


def downgrade() -> None:
    op.drop_table("fleet_enrolments")
    op.drop_table("fleet_hosts")
