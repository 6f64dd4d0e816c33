"""The demo with its store and its predictions and labels in the real PostgreSQL: two URLs in the config
(the sources) and the store URL. Shortened to ten nights (the feature shift is night 8)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.demo import data as demo_data

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]


def test_demo_runs_on_postgres(tmp_path, dw_home, postgres_url, monkeypatch):
    monkeypatch.setattr(demo_data, "NIGHTS", 10)
    monkeypatch.setenv("DRIFTWARDEN_STORE_URL", "sqlite:///never-used.db")  # --store-url wins; restored after
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "credit_risk.yaml", tmp_path / "config" / "credit_risk.yaml")
    cfg = yaml.safe_load((REPO / "config" / "credit_risk.yaml").read_text())
    cfg["sources"]["predictions"] = {"url": postgres_url, "table": "demo_predictions"}
    cfg["sources"]["labels"] = {"url": postgres_url, "table": "demo_labels", "arrived_at": "labelled_at"}
    config = tmp_path / "config" / "credit_risk_pg.yaml"
    config.write_text(yaml.safe_dump(cfg))

    args = ["demo", "--config", str(config), "--store-url", postgres_url, "--json"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "loaded 0 predictions rows into table demo_predictions" in result.stderr  # scoring fills it
    nights = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(nights) == 10 and all(n["error"] is None for n in nights)
    assert [n["status"] for n in nights if n["injected"] is None] == ["ok"] * 9
    [shift] = [n for n in nights if n["injected"] == "input_drift"]
    assert "input_drift" in shift["causes"] and {"age", "income"} <= set(shift["drifted_features"])
    assert not list((dw_home / "demo").glob("*.db")) and not (Path("never-used.db")).exists()

    engine = store.open_store(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from demo_predictions")).scalar() > 20_000
        assert conn.execute(sa.text("select count(*) from demo_labels")).scalar() > 20_000
        assert conn.execute(sa.text("select count(*) from runs where not superseded")).scalar() == 10
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar() is not None
