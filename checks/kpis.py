"""KPIs per task with 95% intervals, and the breach rule: evidence, not noise.

A KPI breaches on a mature window when its interval (Wilson for proportions, a seeded bootstrap
otherwise) lies wholly on the wrong side of the target, or when its point estimate has been on the wrong
side for ``consecutive`` mature windows in a row. One point estimate on the wrong side is a warning.
Too few labelled rows, one class only for AUC, or labels not yet mature: not evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm

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


@dataclass(frozen=True)
class _Labelled:
    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None
    """Binary: P(positive), shape (n,); multiclass: (n, k) in ``classes`` order."""
    classes: list[str]
    positive: str


def _as_labels(values: pd.Series) -> np.ndarray:
    return as_category_text(values).to_numpy(dtype=object)


def _frame_to_labelled(frame: pd.DataFrame, cfg: ModelConfig) -> _Labelled:
    cols = cfg.columns
    if cfg.task == "regression":
        return _Labelled(
            frame[cols.target].to_numpy(dtype=float),
            frame[cols.prediction].to_numpy(dtype=float),
            None,
            [],
            "",
        )
    y, pred = _as_labels(frame[cols.target]), _as_labels(frame[cols.prediction])
    positive = category_text(cols.positive_label)
    proba: np.ndarray | None = None
    classes: list[str] = []
    if cfg.task == "binary" and cols.probability:
        proba = frame[cols.probability].to_numpy(dtype=float)
    elif cfg.task == "multiclass" and cols.probabilities:
        classes = [category_text(c) for c in cols.probabilities]
        proba = frame[list(cols.probabilities.values())].to_numpy(dtype=float)
    return _Labelled(y, pred, proba, classes, positive)


def _point_and_interval(metric: str, d: _Labelled, task: str) -> tuple[float | None, float | None, float | None, str]:
    n = len(d.y)
    binary = task == "binary"
    if metric == "accuracy":
        k = int((d.y == d.pred).sum())
        lo, hi = wilson(k, n)
        return k / n, lo, hi, ""
    if metric in ("precision", "recall") and binary:
        hit = (d.y == d.positive) & (d.pred == d.positive)
        base = (d.pred == d.positive) if metric == "precision" else (d.y == d.positive)
        if base.sum() == 0:
            return None, None, None, f"no {'predicted' if metric == 'precision' else 'actual'} positives"
        lo, hi = wilson(int(hit.sum()), int(base.sum()))
        return float(hit.sum() / base.sum()), lo, hi, ""
    fn = _metric_fn(metric, d, task)
    if metric == "roc_auc":
        present = pd.unique(d.y)
        if len(present) < 2 or (binary and d.positive not in present):
            return None, None, None, "one class only in the labels"
        if binary and d.proba is not None:
            return (*delong_auc((d.y == d.positive).astype(int), d.proba), "")
    if metric in _MEAN_LOSSES.get(task, {}):
        try:
            return (*_mean_loss_interval(metric, d, task), "")
        except ValueError as exc:  # rmsle of values at or below -1: not evaluated, said, the run goes on
            return None, None, None, str(exc)
    point: float | None
    try:
        point = fn(np.arange(n))
    except ValueError as exc:
        return None, None, None, str(exc)
    if not np.isfinite(point):
        return None, None, None, f"{metric} is undefined in this window"
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


_MEAN_LOSSES: dict[str, set[str]] = {"regression": {"mae", "rmse", "rmsle"}, "binary": {"log_loss"}}


def _mean_loss_interval(metric: str, d: _Labelled, task: str) -> tuple[float, float, float]:
    """Point and seeded-bootstrap interval of a metric that is a (root) mean of per-row losses, vectorised."""
    if task == "regression":
        yf, pf = d.y.astype(float), d.pred.astype(float)
        if metric == "mae":
            loss = np.abs(yf - pf)
        elif metric == "rmse":
            loss = (yf - pf) ** 2
        else:
            if (yf <= -1).any() or (pf <= -1).any():
                raise ValueError("rmsle is undefined here: labels or predictions at or below -1 (use mae or rmse)")
            loss = (np.log1p(yf) - np.log1p(pf)) ** 2
    else:
        p = np.clip(d.proba if d.proba is not None else np.zeros(len(d.y)), 1e-15, 1 - 1e-15)
        yb = (d.y == d.positive).astype(float)
        loss = -(yb * np.log(p) + (1 - yb) * np.log(1 - p))
    n = len(loss)
    mean = float(loss.mean())
    root = metric in ("rmse", "rmsle")
    if n > LARGE_N:  # the central limit holds; a bootstrap matrix would be BOOTSTRAP x n
        se = float(loss.std(ddof=1)) / math.sqrt(n)
        if root:  # delta method for sqrt(mean)
            point = math.sqrt(mean)
            half = Z95 * se / (2 * point) if point > 0 else 0.0
            return point, max(0.0, point - half), point + half
        return mean, mean - Z95 * se, mean + Z95 * se
    weights = np.random.default_rng(0).multinomial(n, np.full(n, 1 / n), size=BOOTSTRAP)
    means = weights @ loss / n
    point = mean
    if root:
        means, point = np.sqrt(means), math.sqrt(mean)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return point, float(lo), float(hi)


def _metric_fn(metric: str, d: _Labelled, task: str) -> Callable[[np.ndarray], float]:
    y, pred, proba = d.y, d.pred, d.proba
    if task == "regression":
        yf, pf = y.astype(float), pred.astype(float)
        reg: dict[str, Callable[[np.ndarray], float]] = {
            "mae": lambda i: float(np.mean(np.abs(yf[i] - pf[i]))),
            "rmse": lambda i: float(np.sqrt(np.mean((yf[i] - pf[i]) ** 2))),
            "rmsle": lambda i: float(skm.root_mean_squared_log_error(yf[i], pf[i])),
            "r2": lambda i: float(skm.r2_score(yf[i], pf[i])),
        }
        return reg[metric]
    if task == "binary":
        pos = d.positive
        yb = (y == pos).astype(int)
        pb = (pred == pos).astype(int)
        binary: dict[str, Callable[[np.ndarray], float]] = {
            "f1": lambda i: float(skm.f1_score(yb[i], pb[i], zero_division=0)),
            "roc_auc": lambda i: float(skm.roc_auc_score(yb[i], proba[i])),  # type: ignore[index]
            "log_loss": lambda i: float(skm.log_loss(yb[i], proba[i], labels=[0, 1])),  # type: ignore[index]
        }
        return binary[metric]
    # Macro averages over the classes present in this window's labels, and for precision and F1 also the
    # classes predicted: a class that simply did not occur must not drag a perfect model's recall to 2/3, but
    # predictions into it are wrong and count (a class with precision 0), as in scikit-learn's default.
    present = sorted(pd.unique(y))
    seen = sorted(set(present) | set(pd.unique(pred)))
    columns = {c: k for k, c in enumerate(d.classes)}
    multi: dict[str, Callable[[np.ndarray], float]] = {
        "precision": lambda i: float(skm.precision_score(y[i], pred[i], labels=seen, average="macro", zero_division=0)),
        "recall": lambda i: float(skm.recall_score(y[i], pred[i], labels=present, average="macro", zero_division=0)),
        "f1": lambda i: float(skm.f1_score(y[i], pred[i], labels=seen, average="macro", zero_division=0)),
        "roc_auc": lambda i: _ovr_auc(y[i], proba[i], present, columns),  # type: ignore[index]
        "log_loss": lambda i: float(skm.log_loss(y[i], proba[i], labels=d.classes)),  # type: ignore[index]
    }
    return multi[metric]


def _ovr_auc(y: np.ndarray, proba: np.ndarray, present: list[str], columns: dict[str, int]) -> float:
    """Macro one-vs-rest AUC over the classes present in the labels (each needs both sides)."""
    scores = [
        skm.roc_auc_score(y == c, proba[:, columns[c]]) for c in present if c in columns and 0 < (y == c).sum() < len(y)
    ]
    if not scores:
        raise ValueError("one class only in the labels")
    return float(np.mean(scores))


def _judge(
    kpi: KpiConfig,
    value: float | None,
    lo: float | None,
    hi: float | None,
    mature: bool,
    history: Sequence[bool],
) -> tuple[Level, str]:
    if value is None:
        return "not_evaluated", ""
    if not mature:
        return "pending", "labels not yet mature"
    higher = kpi.direction == "higher_is_better"
    wrong = value < kpi.target if higher else value > kpi.target
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
    history: dict[str, Sequence[bool]] | None = None,
) -> KpiResult:
    """KPIs of one window from its labelled rows (predictions joined with labels).

    ``history`` maps a metric to whether its point estimate was on the wrong side in each earlier mature
    window, oldest first (for the consecutive-windows rule).
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
                        "not_evaluated" if mature else "pending",
                        f"{m} labelled rows < min_labelled {kpi.min_labelled}",
                    )
                )
                continue
            value, lo, hi, why = _point_and_interval(kpi.metric, d, cfg.task)
            hist = history.get(kpi.metric, ()) if segment == "all" else ()
            level, note = _judge(kpi, value, lo, hi, mature, hist)
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
    return KpiResult(tuple(values), n, window_rows, coverage, mature)
