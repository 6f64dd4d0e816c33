"""Faults around a run: a labels source that is down, a report location that cannot be written, a crash in the
middle of a promotion. The run (or the registry) goes on with what it can, stores the verdict once, and says
what happened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from tests.reliability.conftest import Observed, assert_as_table
from tests.streams import write_agrawal_sources

runner = CliRunner()


def _run(config: Path, window_end: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["run", "--config", str(config), "--window-end", window_end, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, (json.loads(lines[-1]) if lines else {}), result.output


def _stored_runs(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.runs).order_by(store.runs.c.id)).mappings().all()
    return [dict(r) for r in rows]


def _metric_kinds(engine: sa.Engine, run_id: int) -> set[str]:
    return set(store.run_metrics(engine, [run_id])["kind"])


@pytest.mark.case("fault.labels_source_down")
def test_a_labels_source_that_is_down(prefect_server, dw_home, tmp_path, tally):
    config = write_agrawal_sources(tmp_path / "agrawal")
    labels = config.parent / "labels.csv"
    away = labels.rename(config.parent / "labels.offline")  # the labels' share is unreachable; predictions fine
    code, summary, output = _run(config, "2025-02-25")
    engine = store.open_store(get_settings().resolved_store_url())
    [down] = _stored_runs(engine)
    findings = json.loads(down["findings"])
    said = [f for f in findings if f["check"] == "labels" and "could not be read" in f["detail"]]
    assert code == 0 and summary.get("status") == "warning", output[-2000:]
    assert len(said) == 1 and said[0]["level"] == "warning" and "labels.csv" in said[0]["detail"], findings
    assert {"volume", "validation", "drift"} <= _metric_kinds(engine, down["id"])  # drift and validation stored
    assert summary["kpis"]["accuracy"]["value"] is None and down["labelled_rows"] == 0

    away.rename(labels)  # the labels come back: the next window's run scores the earlier one's KPIs
    code2, summary2, output2 = _run(config, "2025-02-26")
    assert code2 == 0, output2[-2000:]
    current = store.latest_runs(engine, "agrawal", start=pd.Timestamp("2025-02-24"), end=pd.Timestamp("2025-02-25"))
    [later] = current.to_dict("records")
    kpis = store.run_metrics(engine, [int(later["id"])])
    accuracy = kpis[(kpis["kind"] == "kpi") & (kpis["name"] == "accuracy")]["value"].dropna()
    assert later["trigger"] == "rescore" and later["labelled_rows"] == 24 and len(accuracy) >= 1, later
    assert not any("could not be read" in f["detail"] for f in json.loads(later["findings"]))
    versions = store.all_versions(engine, "agrawal", store.utc(pd.Timestamp("2025-02-24", tz="UTC")))
    message = summary["summary"]
    seen = Observed(
        "survives" if len(versions) == 2 else f"{len(versions)} versions", message, exit_code=code
    )  # one version while down, one with the KPIs: nothing lost, nothing twice
    tally.add("runs_lost", 0 if len(versions) == 2 else 1)
    tally.add("duplicate_results", max(0, len(versions) - 2))
    assert_as_table("fault.labels_source_down", seen, tally)


@pytest.mark.case("fault.reports_read_only")
def test_a_report_location_that_cannot_be_written(prefect_server, dw_home, tmp_path, monkeypatch, tally):
    config = write_agrawal_sources(tmp_path / "agrawal")
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file: nothing can be created under it, whoever asks (root too)")
    monkeypatch.setenv("DRIFTWARDEN_REPORTS_DIR", str(blocker / "reports"))
    get_settings.cache_clear()
    code, summary, output = _run(config, "2025-02-25")
    engine = store.open_store(get_settings().resolved_store_url())
    stored = _stored_runs(engine)
    assert code == 0 and summary.get("status") in ("ok", "warning", "breach"), output[-2000:]
    [run] = stored
    assert run["status"] == summary["status"] and run["report_uri"] is None
    assert "report could not be written" in run["error"] and str(blocker) in run["error"]
    assert "report could not be written" in summary["summary"]  # what `history` and `status` show
    assert {"volume", "validation", "kpi"} <= _metric_kinds(engine, run["id"])
    assert not (blocker.parent / "reports").exists() and blocker.is_file()
    tally.add("runs_lost", 0 if len(stored) == 1 else 1)
    tally.add("duplicate_results", max(0, len(stored) - 1))
    seen = Observed("survives" if run["status"] != "failed" else "failed", run["error"], exit_code=code)
    assert_as_table("fault.reports_read_only", seen, tally)
