"""A backfill in one flow run (flows/monitor/backfill.py): it stores and tells what one monitor-model run per
window would, tells each window as soon as no later one can re-score it, goes on past a window that fails, and
gets a timeout for its number of windows (a killed backfill resuming: tests/reliability/test_backfill_faults.py)."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.monitor import backfill as bf
from driftwarden.flows.monitor import tasks as monitor_tasks
from tests.streams import write_agrawal_sources

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()
slow = pytest.mark.slow


def cli(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _r(v: Any) -> Any:
    """A number as compared: NaN as None, floats to 12 digits."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float):
        return round(v, 12)
    return v


def _int(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def _bool(v: Any) -> bool | None:
    return None if v is None or pd.isna(v) else bool(v)


# --- 1. one flow run replays like one run per window ------------------------------------------------------


def _window_fields(d: dict[str, Any]) -> dict[str, Any]:
    """What a window's line says, without what differs between two replays of the same history by nature:
    flow run ids, wall-clock times and report paths."""
    retrain = d.get("retrain")
    if retrain is not None:
        attempt = retrain.get("attempt")
        keys = ("outcome", "version", "champion_before", "champion_after")
        retrain = {
            "started": retrain.get("started"),
            "reason": retrain.get("reason"),
            "cause": retrain.get("cause"),
            "attempt": None if attempt is None else {k: attempt.get(k) for k in keys},
        }
    kpi_keys = ("value", "lower", "upper", "target", "passed", "level", "labelled", "incomplete")
    same = (
        "window_start", "window_end", "status", "causes", "drifted_features", "rows", "labelled_rows",
        "label_coverage", "failures_logged", "run_version", "trigger", "as_of", "status_since", "error",
    )  # fmt: skip
    return {
        **{k: _r(d.get(k)) for k in same},
        "kpis": {m: {k: _r(v.get(k)) for k in kpi_keys} for m, v in d["kpis"].items()},
        "retrain": retrain,
        "last_attempt_failed": d.get("last_attempt_failed") is not None,
    }


def _stored_history(model: str) -> tuple[dict[str, list[dict[str, Any]]], dict[tuple[str, int], list]]:
    """Every stored version of every window (with its metrics), and the failure samples of each version."""
    engine = store.open_store(get_settings().resolved_store_url())
    history: dict[str, list[dict[str, Any]]] = {}
    version_of: dict[int, tuple[str, int]] = {}
    for ws in store.latest_runs(engine, model)["window_start"]:
        versions = store.all_versions(engine, model, ws.to_pydatetime())
        metrics = store.run_metrics(engine, versions["id"].tolist())
        told = []
        for _, v in versions.iterrows():
            version_of[int(v["id"])] = (str(ws), int(v["run_version"]))
            rows = [
                (m["kind"], m["name"], m["column"] or "", m["segment"], _r(m["value"]), _bool(m["passed"]))
                for _, m in metrics[metrics["run_id"] == v["id"]].iterrows()
            ]
            told.append(
                {
                    "version": int(v["run_version"]),
                    "superseded": bool(v["superseded"]),
                    "trigger": v["trigger"],
                    "status": v["status"],
                    "causes": json.loads(v["causes"]),
                    "rows": _int(v["rows"]),
                    "labelled_rows": _int(v["labelled_rows"]),
                    "label_coverage": _r(v["label_coverage"]),
                    "as_of": str(v["as_of"]),
                    "metrics": sorted(rows, key=repr),
                }
            )
        history[str(ws)] = told
    samples: dict[tuple[str, int], list] = {}
    for _, f in store.failure_log(engine, model).iterrows():
        samples.setdefault(version_of[int(f["run_id"])], []).append((f["reason"], f["row_id"]))
    return history, {k: sorted(v) for k, v in samples.items()}


def _demo_home(root: Path, monkeypatch) -> Path:
    """A fresh home and a copy of the demo's config (its sources then land in ``root/.driftwarden``)."""
    monkeypatch.setenv("DRIFTWARDEN_HOME", str(root / "home"))
    get_settings.cache_clear()
    (root / "config").mkdir(parents=True)
    config = root / "config" / "credit_risk.yaml"
    shutil.copy(REPO / "config" / "credit_risk.yaml", config)
    return config


@slow
def test_one_flow_run_stores_and_tells_what_one_run_per_window_does_on_the_demo_month(
    tmp_path, dw_home, monkeypatch, demo_month
):
    from driftwarden.flows.cli.demo import prepare
    from driftwarden.flows.demo.data import demo_range

    # The new path: the demo's own backfill, in one backfill-model flow run (`driftwarden demo --json`).
    demo_month.use(monkeypatch)
    one = demo_month.nights
    one_history, one_samples = _stored_history("credit_risk")

    # The old path: the same data and champion v1, then one monitor-model flow run per window.
    config = _demo_home(tmp_path / "each", monkeypatch)
    config, cfg = prepare(config, None)
    start, end = demo_range(cfg.window.timezone)
    result, each = cli(
        "backfill", "--config", str(config), "--start", start.isoformat(), "--end", end.isoformat(), "--per-window",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    each_history, each_samples = _stored_history("credit_risk")

    assert len(one) == len(each) == 30
    assert any((d["retrain"] or {}).get("attempt") for d in one)  # the month's retraining is compared too
    diffs = [
        (e["window_start"], {k: (o[k], e[k]) for k in o if o[k] != e[k]})
        for o, e in ((_window_fields(a), _window_fields(b)) for a, b in zip(one, each, strict=True))
        if o != e
    ]
    assert not diffs, diffs[:3]
    assert one_history.keys() == each_history.keys() and len(one_history) == 30
    assert any(len(versions) > 1 for versions in one_history.values())  # re-scored windows: every version
    assert all(v["metrics"] for versions in one_history.values() for v in versions if v["status"] != "failed")
    for ws in one_history:
        a, b = one_history[ws], each_history[ws]
        assert [v["version"] for v in a] == [v["version"] for v in b], ws
        for va, vb in zip(a, b, strict=True):
            assert va == vb, (ws, {k: (va[k], vb[k]) for k in va if va[k] != vb[k]})
    assert one_samples.keys() == each_samples.keys() and one_samples
    for version in one_samples:
        assert one_samples[version] == each_samples[version], version


# --- 2. lines stream as windows become final ---------------------------------------------------------------


def _env(home: Path, tmp_path: Path) -> dict[str, str]:
    """A subprocess's environment: its own home; runs on the tests' Prefect server (none of its own to start,
    nothing left running when it is killed)."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "DRIFTWARDEN_HOME": str(home), "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("DRIFTWARDEN_STORE_URL", None)
    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    return env


def _backfill_cmd(config: Path, start: str, end: str) -> list[str]:
    cmd = [sys.executable, "-m", "driftwarden.flows.cli", "backfill", "--config", str(config)]
    return [*cmd, "--start", start, "--end", end, "--json"]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _days(start: str, end: str) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(start, end, inclusive="left")]


@slow
def test_each_line_is_printed_as_soon_as_its_window_is_final(tmp_path, dw_home):
    config = write_agrawal_sources(tmp_path / "agrawal")
    checkpoint = dw_home / "backfills" / "agrawal.json"
    proc = subprocess.Popen(
        _backfill_cmd(config, "2025-02-14", "2025-02-24"), cwd=tmp_path, env=_env(dw_home, tmp_path),
        stdout=subprocess.PIPE, stderr=(tmp_path / "stderr").open("w"), text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[dict[str, Any]] = []
    at_first: dict[str, Any] = {}
    try:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, ""):
            if not line.startswith("{"):
                continue
            if not lines:  # what the replay had done when it told the first window
                at_first = {"running": proc.poll() is None, "checkpoint": _read_json(checkpoint)}
            lines.append(json.loads(line))
        assert proc.wait(timeout=300) == 0, (tmp_path / "stderr").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert at_first["running"] and at_first["checkpoint"] is not None, at_first  # the replay was still going
    # Told a label horizon (4 days) after it began, while the last windows had not been replayed yet.
    assert pd.Timestamp(at_first["checkpoint"]["done_until"]) < pd.Timestamp("2025-02-22", tz="UTC")
    assert [d["window_start"][:10] for d in lines] == _days("2025-02-14", "2025-02-24")
    assert not checkpoint.exists()
    _, history = cli("history", "--config", str(config), "--json")
    final = {d["window_start"]: d for d in history}
    for d in lines:
        h = final[d["window_start"]]
        assert (d["status"], d["causes"], d["run_version"], d["kpis"]) == (
            h["status"], h["causes"], h["run_version"], h["kpis"],
        ), d["window_start"]  # fmt: skip
    assert any(d["trigger"] == "rescore" for d in lines)  # lines told after their label catch-up
    assert any(d["status"] == "breach" for d in lines)  # the concept change of 2025-02-20


# --- 3. a killed backfill resumes: tests/reliability/test_backfill_faults.py (fault.killed_backfill_resumes)


# --- 4. a window that fails ---------------------------------------------------------------------------------


@slow
def test_a_window_that_fails_is_stored_as_failed_and_the_replay_goes_on(tmp_path, dw_home, monkeypatch):
    config = write_agrawal_sources(tmp_path / "agrawal")
    window_kpis = monitor_tasks.window_kpis

    def kpis_or_fail(cfg, store_url, window, scan, *rest):
        if window.start == pd.Timestamp("2025-02-16", tz="UTC"):
            raise ValueError("the KPIs of 2025-02-16 cannot be computed")
        return window_kpis(cfg, store_url, window, scan, *rest)

    monkeypatch.setattr(monitor_tasks, "window_kpis", kpis_or_fail)
    result, days = cli("backfill", "--config", str(config), "--start", "2025-02-14", "--end", "2025-02-24", "--json")
    assert result.exit_code == 1
    assert [d["window_start"][:10] for d in days] == _days("2025-02-14", "2025-02-24")
    by_day = {d["window_start"][:10]: d for d in days}
    failed = by_day.pop("2025-02-16")
    assert failed["status"] == "failed" and "cannot be computed" in failed["error"], failed
    assert all(d["status"] != "failed" and d["error"] is None for d in by_day.values()), by_day
    for day in ("2025-02-14", "2025-02-15", "2025-02-17"):  # re-scored as their labels came, around the failure
        assert by_day[day]["kpis"]["accuracy"]["level"] == "ok", by_day[day]
    assert by_day["2025-02-20"]["status"] == by_day["2025-02-21"]["status"] == "breach"  # the concept change
    engine = store.open_store(get_settings().resolved_store_url())
    [stored] = store.all_versions(engine, "agrawal", store.utc("2025-02-16")).itertuples()
    assert stored.status == "failed" and "cannot be computed" in stored.error
    assert not (dw_home / "backfills" / "agrawal.json").exists()


@slow
def test_a_bad_row_breaches_its_own_window_only(tmp_path, dw_home):
    config = write_agrawal_sources(tmp_path / "agrawal")
    preds = pd.read_csv(config.parent / "predictions.csv")
    row = preds.index[preds["timestamp"].str.startswith("2025-02-16")][3]
    preds["age"] = preds["age"].astype(object)
    preds.loc[row, "age"] = "forty"
    preds.to_csv(config.parent / "predictions.csv", index=False)
    result, days = cli("backfill", "--config", str(config), "--start", "2025-02-14", "--end", "2025-02-24", "--json")
    assert result.exit_code == 0 and len(days) == 10
    by_day = {d["window_start"][:10]: d for d in days}
    bad = by_day.pop("2025-02-16")  # a value problem the monitor exists to catch: a breach, its row kept
    assert bad["status"] == "breach" and "data_quality" in bad["causes"], bad
    assert "age should hold numbers" in bad["summary"] and "'forty'" in bad["summary"], bad["summary"]
    assert by_day["2025-02-21"]["status"] == "breach"  # a label horizon later, the replay is whole again
    assert by_day["2025-02-15"]["kpis"]["accuracy"]["level"] == "ok"  # its labels were read by a later run
    assert [d for d, s in by_day.items() if s["status"] == "failed" or "data_quality" in s["causes"]] == []


# --- 5. the timeout scales ----------------------------------------------------------------------------------


def test_the_timeout_grows_with_the_windows_and_the_flow_gets_it(tmp_path, dw_home, monkeypatch):
    limits = [bf.timeout_for(n) for n in (0, 1, 10, 100, 1000)]
    assert limits == sorted(set(limits))  # strictly growing
    assert bf.timeout_for(1000) - bf.timeout_for(0) >= 1000 * 60  # at least a minute a window
    assert bf.backfill_model.with_options(timeout_seconds=bf.timeout_for(3)).timeout_seconds == bf.timeout_for(3)

    seen: list[Any] = []

    class Flow:
        def with_options(self, **options):
            seen.append(options)
            return lambda *args: seen.append(args) or []

    monkeypatch.setattr(bf, "backfill_model", Flow())
    config = write_agrawal_sources(tmp_path / "agrawal")
    assert bf.backfill(str(config), "2025-02-14", "2025-02-24") == []
    assert seen == [
        {"timeout_seconds": bf.timeout_for(10)},
        (str(config), "2025-02-14", "2025-02-24", False, None, True),
    ]
    seen.clear()
    result = runner.invoke(app, ["backfill", "--config", str(config), "--start", "2025-01-01", "--end", "2025-03-02"])
    assert result.exit_code == 0, result.output
    assert seen[0] == {"timeout_seconds": bf.timeout_for(60)}  # the CLI's backfill: 60 daily windows


def test_a_checkpoint_is_only_for_the_range_it_was_written_for(tmp_path, dw_home):
    cfg = bf.runtime.load_config.fn(str(write_agrawal_sources(tmp_path / "agrawal")))
    a, b = pd.Timestamp("2025-02-10", tz="UTC"), pd.Timestamp("2025-02-20", tz="UTC")
    first = bf.Checkpoint.load(cfg, a, b, labels_now=False)
    assert first.done_until is None
    first.advance(pd.Timestamp("2025-02-13", tz="UTC"))
    assert bf.Checkpoint.load(cfg, a, b, False).done_until == pd.Timestamp("2025-02-13", tz="UTC")
    assert bf.Checkpoint.load(cfg, a, b + pd.Timedelta(days=1), False).done_until is None  # another range
    assert bf.Checkpoint.load(cfg, a, b, True).done_until is None  # other labels
    first.path.write_text("{not json")  # a torn or foreign file: started over, never a crash
    assert bf.Checkpoint.load(cfg, a, b, False).done_until is None
    first.finish()
    assert not first.path.exists()
