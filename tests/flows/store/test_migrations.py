"""The store's schema is managed by Alembic: from an empty database, from the previous revision with the
data kept, from a store made before migrations, on SQLite and on the real PostgreSQL; and the migrations
at head match ``store.metadata`` exactly (a table added without a migration fails here)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.store import schema as store_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


def _diff(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), store.metadata)


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_empty_database_is_upgraded_to_head_and_matches_the_metadata(store_url):
    engine = sa.create_engine(store_url)
    assert store_schema.current(engine) is None
    assert _diff(engine)  # nothing there yet: the comparison must see every table missing
    before, after = store_schema.upgrade(engine)
    assert (before, after) == (None, store_schema.head())
    assert _diff(engine) == []
    assert {t.name for t in store.metadata.sorted_tables} <= _tables(engine)
    assert store_schema.upgrade(engine) == (after, after)  # idempotent
    engine.dispose()


def test_a_table_added_without_a_migration_is_caught(store_url):
    engine = sa.create_engine(store_url)
    store_schema.upgrade(engine)
    extra = sa.MetaData()
    for table in store.metadata.sorted_tables:
        table.to_metadata(extra)
    sa.Table("alert_outbox", extra, sa.Column("id", sa.Integer, primary_key=True))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), extra)
    assert [d[0] for d in diff] == ["add_table"] and diff[0][1].name == "alert_outbox"
    engine.dispose()


def test_upgrade_from_the_previous_revision_keeps_the_data(store_url):
    engine = sa.create_engine(store_url)
    store_schema.upgrade(engine, store_schema.BASELINE)
    assert store_schema.current(engine) == "0001"
    assert "run_locks" not in _tables(engine)
    _write_a_run(engine)
    before, after = store_schema.upgrade(engine)
    assert (before, after) == ("0001", store_schema.head())
    assert "run_locks" in _tables(engine)
    _assert_run_kept(engine)
    assert _diff(engine) == []
    engine.dispose()


def test_a_store_made_before_migrations_is_stamped_then_upgraded(store_url):
    engine = sa.create_engine(store_url)
    baseline = [store.references, store.runs, store.metrics, store.failure_samples]
    store.metadata.create_all(engine, tables=baseline)  # what open_store did before migrations
    _write_a_run(engine)
    assert store_schema.current(engine) is None
    before, after = store_schema.upgrade(engine)
    assert (before, after) == ("0001", store_schema.head())
    _assert_run_kept(engine)
    assert _diff(engine) == []
    engine.dispose()


def test_open_store_upgrades_to_head(store_url):
    engine = store.open_store(store_url)
    assert store_schema.describe(engine)["up_to_date"] is True


def test_db_commands(store_url):
    runner = CliRunner()
    current = runner.invoke(app, ["db", "current", "--store-url", store_url, "--json"])
    assert current.exit_code == 1  # an empty store needs an upgrade
    assert json.loads(current.stdout)["current"] is None
    upgraded = runner.invoke(app, ["db", "upgrade", "--store-url", store_url])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from revision (empty) to {store_schema.head()}" in upgraded.stdout
    assert "postgres@" not in upgraded.stdout and "sqlite:" not in upgraded.stdout  # the URL is never printed
    again = runner.invoke(app, ["db", "upgrade", "--store-url", store_url])
    assert "up to date" in again.stdout
    current = runner.invoke(app, ["db", "current", "--store-url", store_url, "--json"])
    assert current.exit_code == 0 and json.loads(current.stdout)["up_to_date"] is True


def test_db_upgrade_names_a_missing_secret(monkeypatch):
    monkeypatch.delenv("DW_TEST_NO_SUCH_PASSWORD", raising=False)
    url = "postgresql+psycopg://monitor:${DW_TEST_NO_SUCH_PASSWORD}@127.0.0.1/x"
    result = CliRunner().invoke(app, ["db", "upgrade", "--store-url", url])
    assert result.exit_code == 2
    assert "DW_TEST_NO_SUCH_PASSWORD" in result.output


def _write_a_run(engine: sa.Engine) -> None:
    t = datetime(2026, 3, 1)
    with engine.begin() as conn:
        conn.execute(
            store.runs.insert().values(
                model="m", window_start=t, window_end=t, run_version=1, superseded=False, trigger="run",
                status="ok", causes="[]", started_at=t, findings="[]",
            )
        )  # fmt: skip


def _assert_run_kept(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.runs.c.model, store.runs.c.status)).all()
    assert [tuple(r) for r in rows] == [("m", "ok")]


UPGRADER = """
import sys, time
from driftwarden.flows import store
from driftwarden.flows.store import schema as store_schema
go = float(sys.argv[2])
while time.time() < go:
    time.sleep(0.01)
print(store_schema.current(store.open_store(sys.argv[1])))
"""


def test_two_processes_opening_an_empty_store_at_once_both_succeed(store_url):
    go = time.time() + 4.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADER, store_url, str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr.decode()
        assert stdout.decode().strip() == store_schema.head()
    engine = sa.create_engine(store_url)
    assert _diff(engine) == []
    engine.dispose()


def test_a_store_that_cannot_be_reached_is_one_line_naming_it_not_a_traceback(tmp_path):
    """Any command against a store that is down: exit 1 and one line naming where it is, never the password."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "driftwarden")
    down = "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/x"
    env = {**os.environ, "DRIFTWARDEN_STORE_URL": down, "DRIFTWARDEN_HOME": str(tmp_path)}
    config = str(Path(__file__).resolve().parents[3] / "config" / "credit_risk.yaml")
    for args in (["history", "--config", config], ["db", "current", "--store-url", down]):
        done = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "the store at postgresql+psycopg://nobody:***@127.0.0.1:1/x cannot be reached" in done.stderr
        assert "Traceback" not in done.stderr and "hunter2" not in done.stderr + done.stdout
        assert len(done.stderr.strip().splitlines()) <= 2, done.stderr
