"""run_locks: one row per (model, window) being monitored, so two runs of one window never interleave.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_locks",
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model", "window_start"),
    )


def downgrade() -> None:
    op.drop_table("run_locks")
