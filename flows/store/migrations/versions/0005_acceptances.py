"""acceptances: a user's acceptance of a standing share issue (unseen categories, nulls, out-of-range values),
with a reason and an expiry.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "acceptances" in sa.inspect(op.get_bind()).get_table_names():  # a store created from the metadata
        return
    op.create_table(
        "acceptances",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("accepted_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_acceptances_model", "acceptances", ["model"])


def downgrade() -> None:
    op.drop_index("ix_acceptances_model", table_name="acceptances")
    op.drop_table("acceptances")
