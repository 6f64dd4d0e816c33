"""Results to long-format metric rows, and back: what the store keeps and the reports read (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from driftwarden.checks.drift import DriftResult
from driftwarden.checks.drift.multivariate import MultivariateDrift
from driftwarden.checks.drift.results import SegmentDrift
from driftwarden.checks.estimation.compare import EstimateCheck
from driftwarden.checks.kpis import KpiResult
from driftwarden.checks.validation import ExpectationOutcome, ValidationResult
from driftwarden.checks.volume import VolumeResult


def input_metric_rows(
    volume: VolumeResult, validation: ValidationResult | None, drift: DriftResult | None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "kind": "volume",
            "name": "rows",
            "value": volume.rows,
            "threshold": volume.floor,
            "passed": not volume.breached,
            "details": {"recent_median": volume.recent_median, "note": volume.note},
        }
    ]
    if validation is not None:
        rows += [
            {
                "kind": "validation",
                "name": o.expectation,
                "column": o.column,
                "value": o.bad_share,
                "threshold": o.allowed_share,
                "passed": o.passed,
                "details": {"rule": o.rule, "detail": o.detail, **_share_details(o)},
            }
            for o in validation.outcomes
        ]
    if drift is not None:
        rows += [
            {
                "kind": "target_drift" if c.role == "target" else "drift",
                "name": c.method,
                "column": c.column,
                "segment": "all",
                "value": c.value,
                "threshold": c.threshold,
                "passed": None if c.drifted is None else not c.drifted,
                "details": {"role": c.role, "rows": c.rows, "note": c.note},
            }
            for c in drift.columns
        ]
        rows.append(
            {
                "kind": "drift",
                "name": "dataset_share",
                "column": None,
                "value": drift.share,
                "threshold": drift.dataset_share,
                "passed": None if drift.dataset_drifted is None else not drift.dataset_drifted,
                "details": {"role": "dataset", "note": drift.note},
            }
        )
        if drift.segments is not None:
            rows += segment_metric_rows(drift.segments)
    return rows


def segment_metric_rows(found: SegmentDrift) -> list[dict[str, Any]]:
    """Drift per segment value (kind ``segment_drift``, ``segment`` is ``column=value``): one row a cell, and one
    a segment column whose window had values left out (``name`` left_out, ``column`` the segment column)."""
    rows: list[dict[str, Any]] = [
        {
            "kind": "segment_drift",
            "name": c.method,
            "column": c.column,
            "segment": c.segment,
            "value": c.value,
            "threshold": c.threshold,
            "passed": None if c.drifted is None else not c.drifted,
            "details": {"role": "feature", "rows": c.rows, "reference_rows": c.reference_rows, "note": c.note},
        }
        for c in found.cells
    ]
    rows += [
        {
            "kind": "segment_drift",
            "name": "left_out",
            "column": o.column,
            "segment": f"{o.column}=*",
            "value": o.rows,
            "passed": None,
            "details": {
                "role": "left_out",
                "values": o.values,
                "rows": o.rows,
                "note": f"{o.values:,} value{'s' if o.values != 1 else ''} of {o.column} ({o.rows:,} rows) not "
                f"evaluated: not among the reference's {o.cap} most frequent",
            },
        }
        for o in found.left_out
    ]
    return rows


def _share_details(o: ExpectationOutcome) -> dict[str, Any]:
    """A share rule's state, and the counts the next window decides its state from (``checks.shares``)."""
    if o.state is None:
        return {}
    share = {"state": o.state, "since": o.since, "level_bad": o.level_bad, "level_rows": o.level_rows}
    return {"share": {**share, "bad": o.bad, "rows": o.considered}}


def target_metric_rows(drift: DriftResult) -> list[dict[str, Any]]:
    """The target-drift rows of a drift result (measured again whenever a window's labels grow)."""
    return [r for r in input_metric_rows(_NO_VOLUME, None, drift) if r["kind"] == "target_drift"]


_NO_VOLUME = VolumeResult(0, 0, None, False, "")


def kpi_metric_rows(kpis: KpiResult) -> list[dict[str, Any]]:
    return [
        {
            "kind": "kpi",
            "name": v.metric,
            "segment": v.segment,
            "value": v.value,
            "lower": v.lower,
            "upper": v.upper,
            "threshold": v.target,
            "direction": v.direction,
            "passed": v.passed,
            "details": {
                "level": v.level,
                "labelled": v.labelled,
                "note": v.note,
                "mature": kpis.mature,
                "wrong_side": v.wrong_side,
                "coverage": kpis.coverage,
                "incomplete": kpis.overdue,
            },
        }
        for v in kpis.values
    ]


def estimate_metric_rows(checks: Sequence[EstimateCheck], fitted_on: str = "") -> list[dict[str, Any]]:
    """The window's estimated KPIs (kind ``estimate``), each with the comparison on its labelled rows and what
    the estimator was fitted on (``fitted_on``, e.g. 'reference v2: 5,000 rows')."""
    return [
        {
            "kind": "estimate",
            "name": c.estimate.metric,
            "segment": "all",
            "value": c.estimate.value,
            "lower": c.estimate.lower,
            "upper": c.estimate.upper,
            "threshold": c.target,
            "direction": c.direction,
            "passed": None if c.estimate.value is None else not c.beyond_target,
            "details": {**c.details(), "fitted_on": fitted_on},
        }
        for c in checks
    ]


def multivariate_metric_rows(found: MultivariateDrift | None) -> list[dict[str, Any]]:
    if found is None:
        return []
    return [
        {
            "kind": "multivariate_drift",
            "name": "pca_reconstruction_error",
            "value": found.error,
            "threshold": found.threshold,
            "direction": "lower_is_better",
            "passed": None if found.error is None else not found.drifted,
            "details": found.to_json(),
        }
    ]


def kpi_history(kpi_rows: pd.DataFrame, metric: str, grid: Sequence[datetime]) -> list[bool]:
    """Oldest-first wrong-side flags of a metric over the windows just before a window (rows of the 'all'
    segment), for the k-consecutive rule: ``grid`` holds the starts of those earlier windows, oldest first.

    The walk goes back from the newest and stops at the first window without a mature, evaluated value (none
    stored, failed, labels not yet mature, too few labels): a gap is not a streak. ``kpi_rows`` holds metric
    rows with a ``window_start`` column (naive UTC, as stored) and parsed ``details`` dicts.
    """
    if kpi_rows.empty or not grid:
        return []
    sel = kpi_rows[(kpi_rows["name"] == metric) & (kpi_rows["segment"] == "all")]
    by_start = {_utc_ns(ws): details for ws, details in zip(sel["window_start"], sel["details"], strict=True)}
    out: list[bool] = []
    for start in reversed(grid):
        details = by_start.get(_utc_ns(start))
        if details is None or not details.get("mature") or details.get("wrong_side") is None:
            break
        out.append(bool(details["wrong_side"]))
    return out[::-1]


def _utc_ns(ts: Any) -> int:
    t = pd.Timestamp(ts)
    return int((t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).value)


CONTRACT_KEYS = (
    "model", "window_start", "window_end", "run_version", "trigger", "as_of", "rows", "labelled_rows",
    "label_coverage", "status", "causes", "drifted_features", "kpis", "estimates", "multivariate_drift",
    "failures_logged", "summary", "report",
    "status_since", "error", "retrain", "last_attempt_failed",
)  # fmt: skip
_EMPTY_KPI = {
    "value": None, "lower": None, "upper": None, "target": None, "passed": None, "labelled": None, "incomplete": False,
}  # fmt: skip


def failed_run(model: str | None, start: Any, end: Any, error: str, **known: Any) -> dict[str, Any]:
    """A run row for a run that failed before (or while) anything could be stored."""
    run: dict[str, Any] = {
        "model": model, "window_start": start, "window_end": end, "run_version": None, "trigger": None,
        "as_of": None, "rows": None, "labelled_rows": None, "label_coverage": None, "status": "failed",
        "causes": [], "summary": f"FAILED: {error}", "report_uri": None, "error": error,
    }  # fmt: skip
    run.update(known)
    return run


def window_json(
    run: dict[str, Any],
    metric_rows: pd.DataFrame,
    failures_logged: int,
    kpi_names: Sequence[str],
    tz: str = "UTC",
    status_since: str | None = None,
    last_failure: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON contract of one window's current state (the ``--json`` output); times in the model's zone.

    Every key of CONTRACT_KEYS is always present, for failed runs too. ``last_failure`` is the newest
    version of the window when it failed after this good one (which stays current): its error and time."""
    drift = metric_rows[metric_rows["kind"] == "drift"] if not metric_rows.empty else metric_rows
    drifted = (
        sorted(
            r["column"] for _, r in drift.iterrows() if r["details"].get("role") == "feature" and r["passed"] is False
        )
        if not drift.empty
        else []
    )
    kpis: dict[str, Any] = {}
    if not metric_rows.empty:
        for _, r in metric_rows[(metric_rows["kind"] == "kpi") & (metric_rows["segment"] == "all")].iterrows():
            kpis[r["name"]] = {
                "value": _num(r["value"]),
                "lower": _num(r["lower"]),
                "upper": _num(r["upper"]),
                "target": _num(r["threshold"]),
                "passed": None if pd.isna(r["passed"]) else bool(r["passed"]),
                "level": r["details"].get("level"),
                "labelled": r["details"].get("labelled"),
                "incomplete": bool(r["details"].get("incomplete", False)),
            }
    for name in kpi_names:
        kpis.setdefault(name, {**_EMPTY_KPI, "level": "not_evaluated"})
    estimated: dict[str, Any] = {}
    multivariate = None
    if not metric_rows.empty:
        for _, r in metric_rows[metric_rows["kind"] == "estimate"].iterrows():
            d = r["details"]
            estimated[r["name"]] = {
                "value": _num(r["value"]),
                "lower": _num(r["lower"]),
                "upper": _num(r["upper"]),
                "target": _num(r["threshold"]),
                "beyond_target": bool(d.get("beyond_target")),
                "method": d.get("method"),
                "fitted_on": d.get("fitted_on"),
                "rows": d.get("rows"),
                "not_estimable": d.get("reason") or None,
                "realized": d.get("realized"),
                "labelled": d.get("labelled"),
                "on_labelled": None
                if d.get("labelled_value") is None
                else {"value": d["labelled_value"], "lower": d.get("labelled_lower"), "upper": d.get("labelled_upper")},
                "gap": d.get("gap"),
                "error": d.get("error"),
            }
        found = metric_rows[metric_rows["kind"] == "multivariate_drift"]
        if not found.empty:
            multivariate = dict(found.iloc[0]["details"])
    retrain = None
    if not metric_rows.empty:
        rows = metric_rows[metric_rows["kind"] == "retrain"]
        decided = rows[rows["name"] == "decision"]
        if not decided.empty:
            d = decided.iloc[0]["details"]
            retrain = {"started": bool(decided.iloc[0]["value"]), "reason": d.get("reason"), "cause": d.get("cause")}
        promoted = rows[rows["name"] == "promotion"]
        if not promoted.empty:  # a pending challenger's state as this run found it (waiting, promoted, ...)
            retrain = {**(retrain or {}), "promotion": dict(promoted.iloc[0]["details"])}
    return {
        "model": run["model"],
        "window_start": _iso(run["window_start"], tz),
        "window_end": _iso(run["window_end"], tz),
        "run_version": _int(run["run_version"]),
        "trigger": run["trigger"],
        "as_of": _iso(run["as_of"], tz),
        "rows": _int(run["rows"]),
        "labelled_rows": _int(run["labelled_rows"]),
        "label_coverage": _num(run["label_coverage"]),
        "status": run["status"],
        "causes": list(run["causes"]),
        "drifted_features": drifted,
        "kpis": kpis,
        "estimates": estimated,
        "multivariate_drift": multivariate,
        "failures_logged": int(failures_logged),
        "summary": run["summary"],
        "report": run["report_uri"],
        "status_since": status_since,
        "error": run["error"] if run["status"] == "failed" else None,
        "retrain": retrain,
        "last_attempt_failed": None
        if last_failure is None
        else {"error": last_failure["error"], "at": _iso(last_failure["started_at"], tz)},
    }


def failed_since_current(versions: pd.DataFrame) -> dict[str, Any] | None:
    """The newest version of a window if it failed while an earlier good version stays current."""
    if versions.empty:
        return None
    newest = versions.sort_values("run_version").iloc[-1]
    if newest["status"] != "failed" or not bool(newest["superseded"]):
        return None
    return newest.to_dict()


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _int(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def _iso(v: Any, tz: str = "UTC") -> str | None:
    """ISO text of a stored (naive UTC) or aware time, shown in ``tz``."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    t = pd.Timestamp(v)
    return (t.tz_localize("UTC") if t.tzinfo is None else t).tz_convert(tz).isoformat()


def status_since(versions: pd.DataFrame, status: str, tz: str = "UTC") -> str | None:
    """The as-of time from which a window has had its current status (e.g. when a breach was found)."""
    since = None
    for _, v in versions.sort_values("run_version").iterrows():
        if v["status"] == "failed":
            continue
        if v["status"] != status:
            since = None
        elif since is None:
            since = _iso(v["as_of"], tz)
    return since


def redact(text: str, private: set[str] | frozenset[str]) -> str:
    """``text`` with each whole-word name of a masked or excluded column replaced: a sentence from the store
    (a run's summary, a failure's detail) may name one, and a page never does."""
    import re

    for name in sorted(private, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "[a masked column]", text)
    return text
