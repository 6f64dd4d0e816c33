"""failure samples: indexes by (model, window_start) and (model, row_id), read on every run; runs: the time label
catch-up last found a version's labels unchanged (labels_checked_at).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # if_not_exists: a store made before migrations was created from the metadata, which declares them
    if "labels_checked_at" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}:
        op.add_column("runs", sa.Column("labels_checked_at", sa.DateTime(), nullable=True))
    op.create_index("ix_failure_samples_model_window", "failure_samples", ["model", "window_start"], if_not_exists=True)
    op.create_index("ix_failure_samples_model_row", "failure_samples", ["model", "row_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_column("runs", "labels_checked_at")
    op.drop_index("ix_failure_samples_model_row", table_name="failure_samples")
    op.drop_index("ix_failure_samples_model_window", table_name="failure_samples")
