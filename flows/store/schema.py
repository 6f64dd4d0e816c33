"""The store's schema, managed by Alembic: upgrade to head, say the current revision.

Alembic is configured in code (the migrations live in ``flows/store/migrations``), so no ``alembic.ini`` is
needed and an installed driftwarden finds its own migrations. A store made before migrations existed
(tables made by ``create_all``, no ``alembic_version``) is stamped at the first revision, then upgraded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
"""The first revision: the schema as it was before migrations (references, runs, metrics, failure_samples)."""
_PG_LOCK_KEY = 0x6477_5F73_6368  # any constant: serialises concurrent upgrades of one PostgreSQL database


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the store's migrations have {len(heads)} heads ({heads}); merge them into one")
    return heads[0]


def current(engine: Engine) -> str | None:
    """The store's revision (None: an empty database, or one made before migrations)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the store to ``revision``; returns (revision before, revision after). Safe to call from
    several processes at once: PostgreSQL takes an advisory lock, SQLite a lock file beside the database."""
    target = head() if revision == "head" else revision
    before = current(engine)
    if before == target:
        return before, before
    with _exclusive(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        context = MigrationContext.configure(conn)
        before = context.get_current_revision()
        cfg = alembic_config(conn)
        if before is None and _has_pre_migration_tables(conn):
            command.stamp(cfg, BASELINE)
            before = BASELINE
        if before != target:
            command.upgrade(cfg, target)
    return before, current(engine)


def _has_pre_migration_tables(conn: Connection) -> bool:
    return sa.inspect(conn).has_table("runs")


@contextlib.contextmanager
def _exclusive(engine: Engine) -> Iterator[None]:
    """A lock file beside a SQLite database while it is migrated (PostgreSQL locks in the transaction)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: SQLite's own locking (busy_timeout) serialises the DDL
        yield
        return
    with open(Path(database).with_suffix(".migrate.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def describe(engine: Engine) -> dict[str, Any]:
    """What ``driftwarden db current`` says: the dialect, the store's revision and the head."""
    now = current(engine)
    return {"dialect": engine.dialect.name, "current": now, "head": head(), "up_to_date": now == head()}
