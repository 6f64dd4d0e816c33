"""Alembic migrations of the store, configured in code (no alembic.ini): see ``flows/store/schema.py``.

Add a revision for every change to ``flows/store/tables.py``: one file per revision in ``versions/``,
named ``NNNN_what.py``, with ``down_revision`` set to the previous head. A test compares the migrations at
head with ``store.metadata``, so a table or column added without a migration fails CI.
"""
