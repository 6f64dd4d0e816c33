"""KPIs per task with 95% intervals, and the breach rule: evidence, not noise.

A KPI breaches on a mature window when its interval (the metric's method, declared in ``checks/metrics.py``:
Wilson for proportions, DeLong for a binary AUC, the central limit or a seeded bootstrap for a mean of per-row
losses, a seeded bootstrap otherwise) lies wholly on the wrong side of the target, or when its point estimate
has been on the wrong side for ``consecutive`` mature windows in a row. One point estimate on the wrong side
is a warning.
Too few labelled rows, one class only for AUC, or labels not yet mature: not evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from driftwarden.checks.metrics import Labelled, get_metric
from driftwarden.checks.profile import as_category_text, category_text
from driftwarden.config.model import KpiConfig, ModelConfig

Level = Literal["ok", "warning", "breach", "not_evaluated", "pending"]
BOOTSTRAP = 200
MAX_SEGMENTS = 50
"""Segment columns with more distinct values than this are not sliced (a per-id 'segment' is noise)."""
LARGE_N = 20_000
"""Above this many labelled rows, mean-loss intervals are analytic (CLT, delta method) instead of bootstrap."""
Z95 = 1.959963984540054


@dataclass(frozen=True)
class KpiValue:
    metric: str
    segment: str
    """``all`` or ``model_version=<v>``."""
    value: float | None
    lower: float | None
    upper: float | None
    target: float
    direction: str
    labelled: int
    level: Level
    """breach / warning / ok; pending (labels immature); not_evaluated (too few rows, one class)."""
    note: str = ""

    @property
    def passed(self) -> bool | None:
        if self.level in ("not_evaluated", "pending"):
            return None
        return self.level == "ok"

    @property
    def wrong_side(self) -> bool | None:
        if self.value is None:
            return None
        if self.direction == "higher_is_better":
            return self.value < self.target
        return self.value > self.target


@dataclass(frozen=True)
class KpiResult:
    values: tuple[KpiValue, ...]
    labelled: int
    rows: int
    coverage: float
    mature: bool
    overdue: bool = False
    """The labels' horizon has passed with coverage below ``label_maturity``: the KPIs are of the labels that
    arrived, incomplete, a warning at most (labels that come late may not be a random sample)."""

    @property
    def overall(self) -> tuple[KpiValue, ...]:
        return tuple(v for v in self.values if v.segment == "all")

    @property
    def breached(self) -> list[KpiValue]:
        return [v for v in self.overall if v.level == "breach"]

    @property
    def warned(self) -> list[KpiValue]:
        return [v for v in self.overall if v.level == "warning"]


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _bootstrap(fn: Callable[[np.ndarray], float], n: int, seed: int = 0) -> tuple[float, float] | tuple[None, None]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, n, n)
        try:
            v = fn(idx)
        except ValueError:
            continue
        if np.isfinite(v):
            values.append(v)
    if len(values) < BOOTSTRAP // 2:
        return None, None
    lo, hi = np.quantile(values, [0.025, 0.975])
    return float(lo), float(hi)


def _as_labels(values: pd.Series) -> np.ndarray:
    return as_category_text(values).to_numpy(dtype=object)


def _frame_to_labelled(frame: pd.DataFrame, cfg: ModelConfig) -> Labelled:
    cols = cfg.columns
    if cfg.task == "regression":
        return Labelled(
            "regression",
            frame[cols.target].to_numpy(dtype=float),
            frame[cols.prediction].to_numpy(dtype=float),
            value=cfg.value,
        )
    y, pred = _as_labels(frame[cols.target]), _as_labels(frame[cols.prediction])
    positive = category_text(cols.positive_label)
    proba: np.ndarray | None = None
    classes: tuple[str, ...] = ()
    if cfg.task == "binary" and cols.probability:
        proba = frame[cols.probability].to_numpy(dtype=float)
    elif cfg.task == "multiclass" and cols.probabilities:
        classes = tuple(category_text(c) for c in cols.probabilities)
        proba = frame[list(cols.probabilities.values())].to_numpy(dtype=float)
    return Labelled(cfg.task, y, pred, proba, classes, positive, value=cfg.value)


def _point_and_interval(name: str, d: Labelled) -> tuple[float | None, float | None, float | None, str]:
    """A KPI's value, its 95% interval by the metric's interval method, and a note when it is undefined."""
    metric = get_metric(name)
    n = len(d.y)
    method = metric.interval(d.task)
    if method == "wilson":
        assert metric.share is not None
        success, counted = metric.share(d)
        k, base = int(success.sum()), int(counted.sum())
        if base == 0:
            return None, None, None, f"no {metric.share_of}"
        lo, hi = wilson(k, base)
        return k / base, lo, hi, ""
    if method == "delong":
        if d.one_class:
            return None, None, None, "one class only in the labels"
        if d.proba is not None:
            return (*delong_auc(d.yb, d.proba), "")
    row_loss = metric.losses(d.task)
    if row_loss is not None:
        try:
            return (*_mean_loss_interval(row_loss(d), metric.root), "")
        except ValueError as exc:  # rmsle of values at or below -1: not evaluated, said, the run goes on
            return None, None, None, str(exc)

    def fn(rows: np.ndarray) -> float:
        return metric.point(d, rows)

    point: float | None
    try:
        point = fn(np.arange(n))
    except ValueError as exc:
        return None, None, None, str(exc)
    if not np.isfinite(point):
        return None, None, None, f"{name} is undefined in this window"
    interval: tuple[float | None, float | None] = _bootstrap(fn, n)
    return point, interval[0], interval[1], ""


def delong_auc(y: np.ndarray, score: np.ndarray, z: float = Z95) -> tuple[float, float, float]:
    """ROC AUC with DeLong's 95% interval (analytic, O(n log n)); clipped to [0, 1].

    The placements (each positive's share of negatives scored below it, ties counting half, and the
    converse) come from the two sorted score lists, so ten million rows need no rank arrays."""
    pos, neg = np.sort(score[y == 1]), np.sort(score[y == 0])
    m, n = len(pos), len(neg)
    v10 = (np.searchsorted(neg, pos, "left") + np.searchsorted(neg, pos, "right")) / (2 * n)
    v01 = 1 - (np.searchsorted(pos, neg, "left") + np.searchsorted(pos, neg, "right")) / (2 * m)
    auc = float(v10.mean())
    se = math.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n) if m > 1 and n > 1 else float("inf")
    return auc, max(0.0, auc - z * se), min(1.0, auc + z * se)


def _mean_loss_interval(loss: np.ndarray, root: bool) -> tuple[float, float, float]:
    """Point and interval of a metric that is a (root) mean of per-row losses: seeded bootstrap, vectorised,
    or the central limit for large windows."""
    n = len(loss)
    mean = float(loss.mean())
    if n > LARGE_N:  # the central limit holds; a bootstrap matrix would be BOOTSTRAP x n
        se = float(loss.std(ddof=1)) / math.sqrt(n)
        if root:  # delta method for sqrt(mean)
            point = math.sqrt(mean)
            half = Z95 * se / (2 * point) if point > 0 else 0.0
            return point, max(0.0, point - half), point + half
        return mean, mean - Z95 * se, mean + Z95 * se
    rng = np.random.default_rng(0)
    values, counts = np.unique(loss, return_counts=True)
    if len(values) * 2 <= n:
        # Few distinct losses (a cost per decision, a 0/1 error): a resample of the n rows is only how many rows
        # of each value it draws, multinomial over the values, the same bootstrap without a draw per row
        means = rng.multinomial(n, counts / n, size=BOOTSTRAP) @ values / n
    else:
        means = rng.multinomial(n, np.full(n, 1 / n), size=BOOTSTRAP) @ loss / n
    point = mean
    if root:
        means, point = np.sqrt(means), math.sqrt(mean)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return point, float(lo), float(hi)


def _judge(
    kpi: KpiConfig,
    value: float | None,
    lo: float | None,
    hi: float | None,
    mature: bool,
    history: Sequence[bool],
    overdue: bool = False,
) -> tuple[Level, str]:
    if value is None:
        return "not_evaluated", ""
    if not mature and not overdue:
        return "pending", "labels not yet mature"
    higher = kpi.direction == "higher_is_better"
    wrong = value < kpi.target if higher else value > kpi.target
    if not mature:  # overdue: what arrived is shown, never a breach (nor a streak, nor a retrain)
        side = "point estimate beyond target" if wrong else "within target"
        return ("warning" if wrong else "ok"), f"{side} on incomplete labels (the horizon has passed)"
    if not wrong:
        return "ok", ""
    beyond = hi is not None and lo is not None and (hi < kpi.target if higher else lo > kpi.target)
    if beyond:
        return "breach", "95% interval wholly beyond the target"
    run = 1
    for earlier in reversed(history):
        if not earlier:
            break
        run += 1
    if run >= kpi.consecutive:
        return "breach", f"beyond target {run} mature windows in a row"
    return "warning", f"point estimate beyond target ({run} of {kpi.consecutive} windows in a row)"


def evaluate_kpis(
    labelled: pd.DataFrame,
    cfg: ModelConfig,
    window_rows: int,
    history: Mapping[str, Sequence[bool]] | None = None,
    overdue: bool = False,
) -> KpiResult:
    """KPIs of one window from its labelled rows (predictions joined with labels).

    ``history`` maps a metric to whether its point estimate was on the wrong side in each earlier mature
    window, oldest first (for the consecutive-windows rule). ``overdue``: the labels' horizon has passed (an
    immature window's KPIs are then judged on what arrived, a warning at most).
    """
    history = history or {}
    n = len(labelled)
    coverage = n / window_rows if window_rows else 0.0
    mature = coverage >= cfg.label_maturity
    groups: list[tuple[str, pd.DataFrame]] = [("all", labelled)]
    mv = cfg.columns.model_version
    if mv and mv in labelled.columns and labelled[mv].nunique() > 0:
        groups += [(f"model_version={v}", g) for v, g in labelled.groupby(mv, sort=True)]
    for col in cfg.segments:  # where the model goes wrong: KPIs per segment value (at most MAX_SEGMENTS)
        if col in labelled.columns and 0 < labelled[col].nunique() <= MAX_SEGMENTS:
            keys = as_category_text(labelled[col])
            groups += [(f"{col}={v}", g) for v, g in labelled.groupby(keys, sort=True)]
    values: list[KpiValue] = []
    for segment, frame in groups:
        d = _frame_to_labelled(frame, cfg) if len(frame) else None
        for kpi in cfg.kpis:
            m = len(frame)
            if d is None or m < kpi.min_labelled:
                values.append(
                    KpiValue(
                        kpi.metric,
                        segment,
                        None,
                        None,
                        None,
                        kpi.target,
                        kpi.direction,
                        m,
                        "not_evaluated" if mature or overdue else "pending",
                        f"{m} labelled rows < min_labelled {kpi.min_labelled}",
                    )
                )
                continue
            value, lo, hi, why = _point_and_interval(kpi.metric, d)
            hist = history.get(kpi.metric, ()) if segment == "all" else ()
            level, note = _judge(kpi, value, lo, hi, mature, hist, overdue)
            values.append(
                KpiValue(
                    kpi.metric,
                    segment,
                    value,
                    lo,
                    hi,
                    kpi.target,
                    kpi.direction,
                    m,
                    level,
                    why or note,
                )
            )
    return KpiResult(tuple(values), n, window_rows, coverage, mature, overdue and not mature)
