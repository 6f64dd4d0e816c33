"""The same store on the real PostgreSQL server: a backfill writes there, versions and failures included."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from tests.streams import write_agrawal_sources

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_backfill_into_postgres(tmp_path, dw_home, postgres_url, monkeypatch):
    monkeypatch.setenv("DRIFTWARDEN_STORE_URL", postgres_url)
    get_settings.cache_clear()
    config = write_agrawal_sources(tmp_path / "agrawal")
    runner = CliRunner()
    args = ["backfill", "--config", str(config), "--start", "2025-02-19", "--end", "2025-02-25", "--json"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    days = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [d["status"] for d in days][:4] == ["ok", "breach", "breach", "breach"]
    assert days[2]["causes"] == ["undetermined"]  # 24 rows a day: too few to look at input drift

    engine = store.open_store(postgres_url)
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        schema = conn.execute(sa.text("select current_schema()")).scalar()
        counts = {
            t: conn.execute(sa.text(f'select count(*) from "{t}"')).scalar()
            for t in ("references", "runs", "metrics", "failure_samples")
        }
    assert schema.startswith("dw_test_")
    assert counts["references"] == 1 and counts["runs"] > 6 and counts["metrics"] > 100
    assert counts["failure_samples"] > 0
    rerun = runner.invoke(app, args, catch_exceptions=False)  # a replay adds versions, deletes nothing
    assert rerun.exit_code == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from runs")).scalar() > counts["runs"]
        assert conn.execute(sa.text("select count(*) from runs where not superseded")).scalar() == 6
