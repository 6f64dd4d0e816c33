"""run_locks.heartbeat_at: the holder of a window's lock beats while it runs, so that a lock whose holder
stopped (on any host) is taken over once its beats lapse, not only after the lock's TTL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("run_locks")}
    if "heartbeat_at" in columns:  # a store created from the metadata
        return
    with op.batch_alter_table("run_locks") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_locks") as batch:
        batch.drop_column("heartbeat_at")
