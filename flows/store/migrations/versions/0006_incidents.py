"""incidents: a model's breach episodes (one cause each) and their post-mortems, derived from the runs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "incidents" in sa.inspect(op.get_bind()).get_table_names():  # a store created from the metadata
        return
    op.create_table(
        "incidents",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("cause", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("closed_at", sa.DateTime),
        sa.Column("first_window", sa.DateTime, nullable=False),
        sa.Column("last_window", sa.DateTime, nullable=False),
        sa.Column("windows", sa.Integer, nullable=False),
        sa.Column("predictions", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("markdown", sa.Text, nullable=False),
        sa.Column("html_path", sa.Text),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
    )
    op.create_index("ix_incidents_model", "incidents", ["model"])


def downgrade() -> None:
    op.drop_index("ix_incidents_model", table_name="incidents")
    op.drop_table("incidents")
