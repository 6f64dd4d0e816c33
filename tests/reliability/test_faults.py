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

pytestmark = pytest.mark.slow  # whole monitoring runs, end to end

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


CRASH_AFTER_REGISTER = """
import os, signal, sys
from sklearn.linear_model import LogisticRegression
from driftwarden.config.loader import load_model_config
from driftwarden.flows.registry.versions import Registry
registry = Registry(load_model_config(sys.argv[1]))
model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [1, 1, 0, 0])
registry.register(model, {"parent": 1, "reason": "retrain", "promotion_metric": "accuracy", "decision": ["better"]})
os.kill(os.getpid(), signal.SIGKILL)  # the retrain dies here: before the alias moves
"""

CRASH_AFTER_ALIAS = """
import os, signal, sys
from driftwarden.flows.registry.versions import Registry
Registry.export = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # dies after the alias, before the export
from driftwarden.flows.cli.app import main
sys.argv = ["driftwarden", "promote", "--config", sys.argv[1], "--version", "2", "--reason", "by hand"]
main()
"""


def _crash(script: str, config: Path, tmp_path: Path) -> int:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    done = subprocess.run([sys.executable, "-c", script, str(config)], env=env, capture_output=True, timeout=120)
    return done.returncode


def _models(config: Path) -> str:
    result = runner.invoke(app, ["models", "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # the table's cells as words


def _consistent(registry: Any, export: Path) -> int | None:
    """The champion when the registry is consistent: the alias names a complete version whose checksum
    holds (``load`` verifies it); else None."""
    import hashlib

    champion = registry.champion()
    if champion is None:
        return None
    registry.load(champion.number)
    numbers = [v.number for v in registry.versions()]
    assert numbers == sorted(set(numbers)), numbers
    return champion.number if export.exists() and hashlib.sha256(export.read_bytes()).hexdigest() else None


@pytest.mark.case("fault.crash_during_promotion")
def test_a_crash_in_the_middle_of_a_promotion(dw_home, tmp_path, tally):
    import hashlib

    import yaml
    from sklearn.linear_model import LogisticRegression

    from driftwarden.config.loader import load_model_config
    from driftwarden.flows.registry.versions import Registry
    from driftwarden.flows.retrain.tasks import champion_moved
    from tests.streams import agrawal_config

    export = tmp_path / "serving" / "model.skops"
    config = tmp_path / "agrawal.yaml"
    retrain = {"registry": str(tmp_path / "registry"), "export_path": str(export)}
    config.write_text(yaml.safe_dump(agrawal_config(retrain=retrain)))
    cfg = load_model_config(str(config))
    registry = Registry(cfg)
    first = registry.register(LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]), {"reason": "v1"})
    registry.set_champion(first.number, "the first model")
    assert champion_moved(cfg, registry, first.number, ["the first model"]) is None

    def exported() -> int | None:
        digest = hashlib.sha256(export.read_bytes()).hexdigest()
        return next((v.number for v in registry.versions() if v.meta["sha256"] == digest), None)

    # 1. killed between writing the version and moving the alias: v1 stays champion and served; v2 is said
    assert _crash(CRASH_AFTER_REGISTER, config, tmp_path) == -9
    assert (_consistent(registry, export), exported()) == (1, 1)
    shown = _models(config)
    assert "v1 (champion)" in shown and "interrupted" in shown and "its retrain stopped" in shown, shown
    assert f"export {export}: v1" in shown and "did not follow" not in shown, shown

    # 2. killed between moving the alias and the export: v2 is champion, the export still holds v1, and said
    assert _crash(CRASH_AFTER_ALIAS, config, tmp_path) == -9
    assert (_consistent(registry, export), exported()) == (2, 1)
    shown = _models(config)
    assert "v2 (champion)" in shown and "interrupted" not in shown, shown
    assert f"export {export}: v1; the champion is v2: the export did not follow the alias" in shown, shown
    assert "driftwarden promote --version 2" in shown
    # the repair the message names: the export follows the champion
    repaired = runner.invoke(app, ["promote", "--config", str(config), "--version", "2", "--reason", "re-export"])
    assert repaired.exit_code == 0 and exported() == 2, repaired.output
    shown = _models(config)
    assert f"export {export}: v2" in shown and "did not follow" not in shown, shown
    champions = [h["champion"] for h in registry.aliases()["history"]]
    seen = Observed("survives" if registry.champion().number == 2 and champions[-1] == 2 else "inconsistent", shown)
    assert_as_table("fault.crash_during_promotion", seen, tally)
