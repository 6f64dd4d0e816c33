"""Alembic's environment: runs the migrations on the connection handed over by ``flows/store/schema.py``."""

from __future__ import annotations

from alembic import context

from driftwarden.flows.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
