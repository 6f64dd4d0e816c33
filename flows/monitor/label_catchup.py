"""Label catch-up: as labels arrive, earlier windows whose labels' horizon had not passed as of their latest run
(``tasks.owed_windows``) are re-scored as new run versions (KPIs, target drift, failure samples, verdict, a
fresh page), and a window whose labels are still immature once its horizon has passed gets a warning."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pandas as pd

from driftwarden.checks import records
from driftwarden.checks.drift import DriftResult, detect_drift
from driftwarden.checks.estimation.cbpe import CBPE
from driftwarden.checks.estimation.compare import EstimateCheck, check_estimates, stored_estimates
from driftwarden.checks.failures import select_failures
from driftwarden.checks.kpis import KpiResult, evaluate_kpis
from driftwarden.checks.reference_models import ReferenceModels
from driftwarden.checks.scan import WindowPart
from driftwarden.checks.verdict import (
    Finding,
    Verdict,
    decide_verdict,
    estimate_findings,
    kpi_findings,
    output_drift_findings,
    overdue_finding,
)
from driftwarden.checks.windows import Window, wall_shift
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import files as report_files
from driftwarden.flows import store
from driftwarden.flows.masking import mask_key
from driftwarden.flows.monitor import tasks as monitor_tasks
from driftwarden.flows.monitor.tasks import Reference, kpi_history, local_time, owed_windows
from driftwarden.flows.reports.pages import write_page
from driftwarden.flows.runtime import IO, step
from driftwarden.flows.store import locks


def _windows_to_rescore(
    engine: Any, cfg: ModelConfig, starts: list[pd.Timestamp], before: pd.Timestamp
) -> pd.DataFrame:
    """The current runs, not failed, of the windows starting at ``starts`` (the owed windows the scan read:
    ``tasks.owed_windows``), before ``before``."""
    runs = store.latest_runs(engine, cfg.name, start=store.utc(min(starts)), end=store.utc(before), failed=False)
    wanted = {store.utc(s) for s in starts}
    return runs[[pd.Timestamp(t).to_pydatetime() in wanted for t in runs["window_start"]]]


def _target_drift(cfg: ModelConfig, labelled: pd.DataFrame, reference: Reference) -> DriftResult:
    """Drift of the labels themselves (e.g. the positive rate), once enough of them have arrived."""
    c = cfg.columns
    target = labelled[c.target] if c.target in labelled else None
    return detect_drift(labelled, reference.profile, cfg.drift, [], target=target, target_name=c.target)


@step(IO)
def rescore_earlier_windows(
    cfg: ModelConfig,
    store_url: str,
    window: Window,
    earlier: dict[pd.Timestamp, WindowPart],
    as_of: pd.Timestamp,
    reference: Reference,
    models: ReferenceModels | None = None,
) -> list[dict[str, Any]]:
    """Label catch-up: re-score the earlier windows still owed whose labels grew, as new run versions."""
    if not earlier:
        return []
    engine = store.open_store(store_url)
    done: list[dict[str, Any]] = []
    for run in _windows_to_rescore(engine, cfg, list(earlier), window.start).to_dict("records"):
        lock = _try_lock(engine, cfg, run)
        if lock is None:  # that window is being monitored right now: its own run uses the labels known now
            continue
        try:
            rescored = _rescore_one(cfg, engine, run, earlier, as_of, reference, models)
        finally:
            locks.release(engine, lock)
        if rescored is not None:
            done.append(rescored)
    return done


def _try_lock(engine: Any, cfg: ModelConfig, run: dict[str, Any]) -> locks.WindowLock | None:
    """The earlier window's lock, or None when a run of that window holds it or superseded ``run`` meanwhile
    (that run used the labels known then; the next catch-up sees it)."""
    start = store.utc(run["window_start"])
    ttl = timedelta(seconds=get_settings().run_lock_ttl)
    try:
        lock = locks.acquire(engine, cfg.name, start, f"window {start}", ttl)
    except locks.WindowBusy:
        return None
    current = store.latest_runs(engine, cfg.name, start=start, end=start + timedelta(seconds=1))
    if current.empty or int(current["id"].iloc[0]) != int(run["id"]):
        locks.release(engine, lock)
        return None
    return lock


def _rescore_one(
    cfg: ModelConfig,
    engine: Any,
    run: dict[str, Any],
    earlier: dict[pd.Timestamp, WindowPart],
    as_of: pd.Timestamp,
    reference: Reference,
    models: ReferenceModels | None = None,
) -> dict[str, Any] | None:
    """Re-score one earlier window if its labels grew (or became overdue); None when nothing changed."""
    start, end = (
        local_time(run["window_start"], cfg.window.timezone),
        local_time(run["window_end"], cfg.window.timezone),
    )
    part = earlier.get(start)
    if part is None:  # its run was stored after this run's scan began: the next run re-scores it
        return None
    labelled = part.labelled
    stored = [Finding(**f) for f in json.loads(run["findings"])]
    overdue = overdue_finding(cfg, end, as_of, len(labelled), part.rows)
    grew = len(labelled) > (run["labelled_rows"] or 0)
    if not grew and (overdue is None or any(f.check == "labels" for f in stored)):
        if as_of >= wall_shift(end, cfg.horizon):  # nothing new by the horizon: final as it stands
            store.labels_checked(engine, int(run["id"]), store.utc(as_of))
        return None
    history = kpi_history(engine, cfg, start)
    kpis = evaluate_kpis(labelled, cfg, part.rows, history, overdue=overdue is not None)
    inputs = [f for f in stored if f.check not in ("kpi", "labels", "target_drift", *_ESTIMATE_CHECKS)]
    target = _target_drift(cfg, labelled, reference)
    compared = _estimates(cfg, engine, run, labelled, kpis, models, reference)
    estimated, fitted_on = compared if compared is not None else (None, "")
    verdict = decide_verdict(
        [*inputs, *kpi_findings(kpis), *estimate_findings(estimated or (), cfg), *output_drift_findings(target),
         *([overdue] if overdue else [])]
    )  # fmt: skip
    kpi_rows = records.kpi_metric_rows(kpis) + records.target_metric_rows(target)
    if estimated is not None:
        kpi_rows += records.estimate_metric_rows(estimated, fitted_on)
    page = _rescore_page(cfg, engine, run, start, end, verdict, kpi_rows)
    failures = [s.to_row() for s in select_failures(None, part.candidates, cfg, mask_key())]
    record = store.RunRecord(
        model=cfg.name,
        window_start=run["window_start"],
        window_end=run["window_end"],
        trigger="rescore",
        status=verdict.status,
        started_at=store.now_utc(),
        causes=verdict.causes,
        rows=part.rows,
        labelled_rows=len(labelled),
        label_coverage=kpis.coverage,
        as_of=store.utc(as_of),
        reference_id=run["reference_id"],
        summary=verdict.summary,
        findings=[f.to_json() for f in verdict.findings],
        report_uri=page,
    )
    run_id, version, _ = store.write_run(
        engine,
        record,
        [store.MetricRow(**m) for m in kpi_rows],
        failures,
        copy_metrics_from=int(run["id"]),
        copy_kinds_except=("kpi", "target_drift", *(("estimate",) if estimated is not None else ())),
    )
    return {"window_start": str(start), "status": verdict.status, "previous": run["status"], "run_version": version}


_ESTIMATE_CHECKS = ("estimate", "estimate_gap", "estimate_match")


def _estimates(
    cfg: ModelConfig,
    engine: Any,
    run: dict[str, Any],
    labelled: pd.DataFrame,
    kpis: KpiResult,
    models: ReferenceModels | None,
    reference: Reference,
) -> tuple[tuple[EstimateCheck, ...], str] | None:
    """The estimates the window's first run stored (of all its rows), held against the KPIs of the labels now
    known on the same labelled rows, by the estimator of the reference that run was held to: after a promotion,
    a window the old champion scored is compared through the old champion's estimator (its stored fit, applied
    to the labelled rows' scores). None where that estimator cannot be had again (not stored: a regression's
    loss models, a model with private columns): the estimates stay as first stored. With the estimator's
    ``fitted_on``."""
    rows = store.run_metrics(engine, [int(run["id"])], kind="estimate")
    if rows.empty:
        return (), ""
    rows["details"] = rows["details"].map(json.loads)
    if run["reference_id"] is not None and int(run["reference_id"]) != reference.id:
        old = store.reference_by_id(engine, int(run["reference_id"]))
        found = ReferenceModels.from_json(old.profile["models"]) if old and old.profile.get("models") else None
        estimator = found.usable_estimator if found is not None else None
        needed = (*estimator.score_columns, estimator.prediction) if isinstance(estimator, CBPE) else ()
        if found is None or not isinstance(estimator, CBPE) or any(col not in labelled for col in needed):
            return None
        again = replace(estimator, support=None).row_values(labelled)  # scores and predictions are all it reads
        if "_beyond" in labelled:
            again["_beyond"] = labelled["_beyond"].to_numpy()
        relabelled = pd.concat([labelled.drop(columns=[c for c in again.columns if c in labelled]), again], axis=1)
        return check_estimates(estimator, stored_estimates(rows), relabelled, kpis, cfg), found.fitted_on
    if models is None or models.estimator is None:
        return (), ""
    return check_estimates(models.estimator, stored_estimates(rows), labelled, kpis, cfg), models.fitted_on


def _rescore_page(
    cfg: ModelConfig,
    engine: Any,
    run: dict[str, Any],
    start: pd.Timestamp,
    end: pd.Timestamp,
    verdict: Verdict,
    kpi_rows: list[dict[str, Any]],
) -> str | None:
    """A fresh page for a re-scored window: its new verdict, the new KPIs and the unchanged input checks."""
    if not run["report_uri"]:
        return None
    old = store.run_metrics(engine, [int(run["id"])])
    old = old[old["kind"] != "kpi"].assign(details=lambda f: f["details"].map(json.loads))
    rows = [*kpi_rows, *old.astype(object).where(old.notna(), None).to_dict("records")]
    original = str(run["report_uri"])
    evidently = report_files.stem(original) + "-evidently.html"
    first = report_files.name(original)
    note = f'<p>Re-scored as labels arrived. Input checks as first run: <a href="{first}">first page</a>'
    if report_files.exists(report_files.sibling(original, evidently)):
        note += f', <a href="{evidently}">Evidently drift report</a>'
    stem = f"{start.strftime('%Y%m%dT%H%M')}-{store.now_utc().strftime('%Y%m%dT%H%M%S%f')}"
    return write_page(
        report_files.sibling(original, f"{stem}.html"), cfg, f"{start} .. {end}", verdict.summary, rows, note + ".</p>"
    )


def catch_up(cfg: ModelConfig, store_url: str, until: pd.Timestamp, as_of: pd.Timestamp) -> list[dict[str, Any]]:
    """The catch-up still owed to the windows ending by ``until`` (the end of a replay), as of ``as_of``: what
    the runs of the next windows would have done, so that replayed history does not end in ``pending``."""
    engine = store.open_store(store_url)
    earlier = owed_windows(engine, cfg, until)
    if not earlier:
        return []
    tail = Window(until, until)  # no rows of its own: only the owed windows are read
    reference = monitor_tasks.ensure_reference(cfg, store_url)
    labels = monitor_tasks.read_known_labels(cfg, tail, as_of, reference, earlier)
    models = monitor_tasks.reference_models(cfg, reference)
    scan = monitor_tasks.scan_window(cfg, store_url, tail, reference, labels, earlier, models)
    return rescore_earlier_windows(cfg, store_url, tail, scan.earlier, as_of, reference, models)
