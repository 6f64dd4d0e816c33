"""The monitor-model flow on the real Agrawal stream, with labels arriving two days late."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from driftwarden.checks.records import CONTRACT_KEYS
from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from tests.streams import write_agrawal_sources

pytestmark = pytest.mark.slow
runner = CliRunner()


def cli(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result, lines


@pytest.fixture
def agrawal_yaml(tmp_path, dw_home):
    return write_agrawal_sources(tmp_path / "agrawal")


CONTRACT = set(CONTRACT_KEYS)


def test_backfill_catches_the_concept_change_once_labels_mature(agrawal_yaml):
    # The concept changes at 2025-02-20 16:00; labels arrive two days after each prediction.
    result, days = cli(
        "backfill", "--config", str(agrawal_yaml), "--start", "2025-02-14", "--end", "2025-02-28", "--json"
    )
    assert result.exit_code == 0, result.output
    assert len(days) == 14 and all(set(d) == CONTRACT for d in days)
    by_day = {d["window_start"][:10]: d for d in days}
    for day in ["2025-02-14", "2025-02-17", "2025-02-19"]:
        assert by_day[day]["status"] == "ok" and by_day[day]["kpis"]["accuracy"]["passed"] is True
    for day in ["2025-02-21", "2025-02-23", "2025-02-25"]:
        d = by_day[day]
        # 24 rows a day: too few to look at input drift, so the cause is undetermined, not concept_change
        assert d["status"] == "breach" and d["causes"] == ["undetermined"], d["summary"]
        assert d["kpis"]["accuracy"]["value"] < 0.75 and d["kpis"]["accuracy"]["passed"] is False
        assert d["drifted_features"] == [] and d["failures_logged"] > 0
        # the stream's model outputs 0/1 "probabilities": nothing to estimate from, and it says so
        why = d["estimates"]["accuracy"]["not_estimable"]
        assert d["estimates"]["accuracy"]["value"] is None and "distinct values" in why, d["estimates"]
        # flagged late but surely: at the run two days after the window, when its labels had arrived
        assert pd.Timestamp(d["status_since"]) == pd.Timestamp(d["window_end"]) + pd.Timedelta(days=2)
    for day in ["2025-02-26", "2025-02-27"]:  # the catch-up at the end of the replay, as of their horizon
        d = by_day[day]
        assert d["kpis"]["accuracy"]["level"] == "breach" and d["labelled_rows"] == d["rows"], d
        assert d["trigger"] == "rescore" and pd.Timestamp(d["as_of"]) == pd.Timestamp("2025-03-04", tz="UTC"), d


def test_rerun_adds_a_version_and_failures_keep_earlier_results(agrawal_yaml, tmp_path):
    ok, [first] = cli("run", "--config", str(agrawal_yaml), "--window-end", "2025-02-10", "--json")
    assert ok.exit_code == 0 and first["status"] == "ok" and first["run_version"] == 1
    _, [second] = cli("run", "--config", str(agrawal_yaml), "--window-end", "2025-02-10", "--json")
    assert second["run_version"] == 2 and second["status"] == "ok"

    folder = agrawal_yaml.parent
    shutil.copy(folder / "predictions.csv", tmp_path / "good.csv")
    broken = pd.read_csv(tmp_path / "good.csv").drop(columns=["salary"])
    broken.to_csv(folder / "predictions.csv", index=False)
    failed, [f] = cli("run", "--config", str(agrawal_yaml), "--window-end", "2025-02-10", "--json")
    assert failed.exit_code == 1 and f["status"] == "failed"
    assert "salary" in f["error"] and "predictions.csv" in f["error"]

    text = pd.read_csv(tmp_path / "good.csv")
    text["age"] = text["age"].astype(object)
    text.loc[text["timestamp"].str.startswith("2025-02-10 05"), "age"] = "forty"
    text.to_csv(folder / "predictions.csv", index=False)
    _, [g] = cli("run", "--config", str(agrawal_yaml), "--window-end", "2025-02-11", "--json")
    # text in a few rows of a numeric column: those rows break a data-quality rule, the window still has a verdict
    assert g["status"] == "breach" and "data_quality" in g["causes"], g
    assert "age should hold numbers" in g["summary"] and "'forty'" in g["summary"], g["summary"]

    (folder / "predictions.csv").write_bytes(b"\x00\xff\x13garbage" * 10)
    _, [h] = cli("run", "--config", str(agrawal_yaml), "--window-end", "2025-02-12", "--json")
    assert h["status"] == "failed" and "predictions.csv" in h["error"]

    engine = store.open_store(get_settings().resolved_store_url())
    versions = store.all_versions(engine, "agrawal", store.utc("2025-02-09"))
    assert list(versions["status"]) == ["ok", "ok", "failed"]
    assert list(versions["superseded"]) == [True, False, True]  # the good result stays current
    _, hist = cli("history", "--config", str(agrawal_yaml), "--json")
    assert [h["status"] for h in hist] == ["ok", "breach", "failed"]


def test_dead_feed_is_a_volume_breach_not_a_crash(agrawal_yaml):
    _, [d] = cli("run", "--config", str(agrawal_yaml), "--window-end", "2026-06-02", "--json")
    assert d["status"] == "breach" and d["causes"] == ["volume"] and d["rows"] == 0


def test_a_window_that_has_not_ended_is_refused_and_nothing_is_stored(agrawal_yaml):
    tomorrow = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=2)).strftime("%Y-%m-%d")
    result = runner.invoke(app, ["run", "--config", str(agrawal_yaml), "--window-end", tomorrow, "--json"])
    assert result.exit_code == 2 and "Traceback" not in result.output  # refused before anything runs
    assert "has not ended yet" in result.stderr and "--window-end" in result.stderr, result.stderr
    engine = store.open_store(get_settings().resolved_store_url())
    assert store.latest_runs(engine, "agrawal").empty  # no 'ok' with 0 labels for half a window


def test_failure_log_is_queryable_and_exportable(agrawal_yaml, tmp_path):
    cli(
        "backfill",
        "--config",
        str(agrawal_yaml),
        "--start",
        "2025-02-21",
        "--end",
        "2025-02-24",
        "--labels-now",
    )
    result = runner.invoke(app, ["failures", "--config", str(agrawal_yaml), "--reason", "confident_mistake"])
    assert result.exit_code == 0 and "confident_mistake" in result.stdout
    out = tmp_path / "failures.parquet"
    runner.invoke(app, ["failures", "--config", str(agrawal_yaml), "--export", str(out)])
    log = pd.read_parquet(out)
    assert len(log) > 0 and set(log["reason"]) <= {"confident_mistake", "misclassified"}
    row = log.iloc[0]
    features = {"salary", "commission", "age", "hvalue", "hyears", "loan", "elevel", "car", "zipcode"}
    assert features <= set(log.columns) and "features" not in log.columns  # one column per feature, for reuse
    assert row["model_version"] == "tree-v1" and row["label"] != row["prediction"]


def test_validate_names_missing_columns(agrawal_yaml):
    ok = runner.invoke(app, ["validate", "--config", str(agrawal_yaml)])
    assert ok.exit_code == 0 and "valid" in ok.stdout
    labels = agrawal_yaml.parent / "labels.csv"
    pd.read_csv(labels).drop(columns=["labelled_at"]).to_csv(labels, index=False)
    bad = runner.invoke(app, ["validate", "--config", str(agrawal_yaml)])
    assert bad.exit_code == 1 and "labelled_at" in bad.output and "labels.csv" in bad.output


def test_bad_times_exit_2_naming_the_option(agrawal_yaml):
    result = runner.invoke(app, ["run", "--config", str(agrawal_yaml), "--window-end", "yesterday"])
    assert result.exit_code == 2 and "--window-end" in result.output and "'yesterday'" in result.output
    result = runner.invoke(app, ["backfill", "--config", str(agrawal_yaml), "--start", "soon", "--end", "2025-01-01"])
    assert result.exit_code == 2 and "--start" in result.output


def test_a_store_that_is_down_still_gives_one_failed_json_line(agrawal_yaml, monkeypatch):
    monkeypatch.setenv("DRIFTWARDEN_STORE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    get_settings.cache_clear()
    result, [d] = cli("run", "--config", str(agrawal_yaml), "--window-end", "2025-02-10", "--json")
    assert result.exit_code == 1 and set(d) == CONTRACT
    assert d["status"] == "failed" and "could not be stored either" in d["error"]


def test_a_short_backfill_never_unlearns_labels(agrawal_yaml):
    cli("backfill", "--config", str(agrawal_yaml), "--start", "2025-02-21", "--end", "2025-02-23", "--labels-now")
    _, days = cli("backfill", "--config", str(agrawal_yaml), "--start", "2025-02-21", "--end", "2025-02-23", "--json")
    assert [d["status"] for d in days] == ["breach", "breach"]  # not 'ok' with the labels known back then
    assert all(d["labelled_rows"] == 24 for d in days)


def test_several_models_backfill_side_by_side(tmp_path, dw_home):
    import yaml

    from tests.streams import agrawal_config

    paths = []
    for name in ("agrawal_a", "agrawal_b"):
        path = write_agrawal_sources(tmp_path / name, config={**agrawal_config(), "name": name})
        paths.append(path)
    result, days = cli(
        "backfill", "--config", str(paths[0]), "--config", str(paths[1]), "--start", "2025-02-19",
        "--end", "2025-02-24", "--concurrency", "2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    by_model = {m: [d for d in days if d["model"] == m] for m in ("agrawal_a", "agrawal_b")}
    assert [len(v) for v in by_model.values()] == [5, 5]
    for model_days in by_model.values():  # each model's windows ran in order: the change is caught alike
        assert [d["status"] for d in model_days][:3] == ["ok", "breach", "breach"]
    assert yaml.safe_load(paths[0].read_text())["name"] == "agrawal_a"
