"""Per-column drift against a reference profile, and the dataset-level rule.

Definitions follow Evidently 0.7 (tested against its values): normed Wasserstein = W1(ref, cur) / std(ref)
with the population std floored at 0.001; Jensen-Shannon distance (natural log) over category shares.
From ``large_sample`` rows on, effect sizes decide (at a million rows any p-value is tiny); below it,
KS and chi-square p-values with Holm's correction across the columns so tested. Below ``min_rows`` a
column is "not evaluated", never "drifted".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from checks.profile import CategoricalProfile, NumericProfile, ReferenceProfile, as_category_text
from config.model import DriftConfig

Role = Literal["feature", "prediction", "target"]


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    role: Role
    method: str
    """wasserstein | jensenshannon | ks | chisquare | none (not evaluated)."""
    value: float | None
    """Distance (effect-size methods) or p-value before correction (test methods)."""
    threshold: float | None
    """Distance threshold, or the Holm-adjusted significance level the p-value was held to."""
    drifted: bool | None
    """None: not evaluated."""
    rows: int
    note: str = ""


@dataclass(frozen=True)
class DriftResult:
    columns: tuple[ColumnDrift, ...]
    share: float | None
    """(Weighted) share of evaluated features that drifted; None when none was evaluated."""
    dataset_share: float
    """The configured share at which the dataset counts as drifted."""
    dataset_drifted: bool | None
    note: str

    @property
    def features(self) -> tuple[ColumnDrift, ...]:
        return tuple(c for c in self.columns if c.role == "feature")

    @property
    def drifted_features(self) -> list[str]:
        return [c.column for c in self.features if c.drifted]

    def get(self, column: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == column:
                return c
        raise KeyError(column)


def wasserstein_norm(ref_values: np.ndarray, cur: np.ndarray, ref_std: float) -> float:
    return float(stats.wasserstein_distance(ref_values, cur) / max(ref_std, 0.001))


def jensenshannon_counts(ref_counts: dict[str, int], cur_counts: dict[str, int]) -> float:
    keys = sorted(set(ref_counts) | set(cur_counts))
    p = np.array([ref_counts.get(k, 0) for k in keys], dtype=float)
    q = np.array([cur_counts.get(k, 0) for k in keys], dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    return float(distance.jensenshannon(p / p.sum(), q / q.sum()))


def _binned_js(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen-Shannon on a numeric column, binned as Evidently does (Sturges over both samples)."""
    if len(np.unique(ref)) <= 20:
        return jensenshannon_counts(_value_counts(ref), _value_counts(cur))
    bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    p = np.histogram(ref, bins)[0].astype(float)
    q = np.histogram(cur, bins)[0].astype(float)
    return float(distance.jensenshannon(p / p.sum(), q / q.sum()))


def _value_counts(values: np.ndarray) -> dict[str, int]:
    uniq, counts = np.unique(values, return_counts=True)
    return {repr(float(u)): int(c) for u, c in zip(uniq, counts, strict=True)}


def _chisquare(ref_counts: dict[str, int], cur_counts: dict[str, int]) -> float:
    keys = sorted(set(ref_counts) | set(cur_counts))
    table = np.array([[ref_counts.get(k, 0) for k in keys], [cur_counts.get(k, 0) for k in keys]])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table).pvalue)


def _pick_method(configured: str, is_numeric: bool, n_unique: int, n_ref: int, n_cur: int, large: int) -> str:
    if configured != "auto":
        return configured
    if min(n_ref, n_cur) >= large:
        return "wasserstein" if is_numeric and n_unique > 5 else "jensenshannon"
    return "ks" if is_numeric and n_unique > 5 else "chisquare"


def _column_drift(
    name: str,
    role: Role,
    current: pd.Series,
    ref: NumericProfile | CategoricalProfile,
    cfg: DriftConfig,
) -> tuple[str, float | None, int, str]:
    """(method, value, rows, note) for one column; value None when not evaluated."""
    if isinstance(ref, NumericProfile):
        cur = pd.to_numeric(current, errors="coerce").dropna().to_numpy(dtype=float)
        n_ref = ref.count
    else:
        cur_text = as_category_text(current).dropna()
        n_ref = ref.count
    n_cur = len(cur) if isinstance(ref, NumericProfile) else len(cur_text)
    if n_cur < cfg.min_rows or n_ref < cfg.min_rows:
        return "none", None, n_cur, f"not evaluated: {min(n_cur, n_ref)} rows < min_rows {cfg.min_rows}"
    if isinstance(ref, NumericProfile):
        ref_values = ref.values()
        method = _pick_method(
            cfg.methods.get(name, "auto"), True, len(np.unique(ref_values)), n_ref, n_cur, cfg.large_sample
        )
        if method == "wasserstein":
            return method, wasserstein_norm(ref_values, cur, ref.std), n_cur, ""
        if method == "jensenshannon":
            return method, _binned_js(ref_values, cur), n_cur, ""
        if method == "ks":
            return method, float(stats.ks_2samp(ref_values, cur).pvalue), n_cur, ""
        return method, _chisquare(_value_counts(ref_values), _value_counts(cur)), n_cur, ""
    cur_counts = {str(k): int(v) for k, v in cur_text.value_counts().items()}
    method = _pick_method(cfg.methods.get(name, "auto"), False, len(ref.counts), n_ref, n_cur, cfg.large_sample)
    if method in ("wasserstein", "ks"):
        raise ValueError(f"drift.methods: {method} does not apply to categorical column {name!r}")
    if method == "jensenshannon":
        return method, jensenshannon_counts(ref.counts, cur_counts), n_cur, ""
    return method, _chisquare(ref.counts, cur_counts), n_cur, ""


def _holm(p_values: dict[str, float], alpha: float) -> dict[str, tuple[bool, float]]:
    """Holm step-down: column -> (rejected, the level its p-value was held to)."""
    order = sorted(p_values, key=lambda k: p_values[k])
    m = len(order)
    out: dict[str, tuple[bool, float]] = {}
    still = True
    for i, key in enumerate(order):
        level = alpha / (m - i)
        still = still and p_values[key] <= level
        out[key] = (still, level)
    return out


def detect_drift(
    current: pd.DataFrame,
    profile: ReferenceProfile,
    cfg: DriftConfig,
    features: list[str],
    prediction: str | None = None,
    target: pd.Series | None = None,
    target_name: str | None = None,
) -> DriftResult:
    """Drift of each feature (and, reported apart, of the prediction and the labelled target)."""
    jobs: list[tuple[str, Role, pd.Series]] = [(f, "feature", current[f]) for f in features]
    if prediction is not None and (prediction in profile.numeric or prediction in profile.categorical):
        jobs.append((prediction, "prediction", current[prediction]))
    if target is not None and target_name and (target_name in profile.numeric or target_name in profile.categorical):
        jobs.append((target_name, "target", target))

    raw: dict[str, tuple[Role, str, float | None, int, str]] = {}
    for name, role, series in jobs:
        ref = profile.numeric.get(name) or profile.categorical.get(name)
        if ref is None:
            raise ValueError(f"the reference profile has no column {name!r}")
        method, value, rows, note = _column_drift(name, role, series, ref, cfg)
        raw[name] = (role, method, value, rows, note)

    # Holm across the p-value tests of each role separately (features never share a family with targets).
    holm: dict[str, tuple[bool, float]] = {}
    for role in ("feature", "prediction", "target"):
        pvals = {k: v[2] for k, v in raw.items() if v[0] == role and v[1] in ("ks", "chisquare") and v[2] is not None}
        holm.update(_holm(pvals, cfg.p_value))

    columns: list[ColumnDrift] = []
    for name, (role, method, value, rows, note) in raw.items():
        if value is None or method == "none":
            columns.append(ColumnDrift(name, role, "none", None, None, None, rows, note))
        elif method in ("ks", "chisquare"):
            rejected, level = holm[name]
            columns.append(ColumnDrift(name, role, method, value, level, rejected, rows, note))
        else:
            thr = cfg.wasserstein_threshold if method == "wasserstein" else cfg.jensenshannon_threshold
            drifted = bool(value >= thr) if not np.isnan(value) else None
            columns.append(ColumnDrift(name, role, method, value, thr, drifted, rows, note))

    evaluated = [c for c in columns if c.role == "feature" and c.drifted is not None]
    if not evaluated:
        share = None
        dataset: bool | None = None
        note = "not evaluated: too few rows for drift"
    else:
        total = sum(cfg.weights.get(c.column, 1.0) for c in evaluated)
        hit = sum(cfg.weights.get(c.column, 1.0) for c in evaluated if c.drifted)
        share = hit / total if total > 0 else 0.0
        dataset = share >= cfg.dataset_share
        names = [c.column for c in evaluated if c.drifted]
        note = (
            f"{len(names)} of {len(evaluated)} features drifted (share {share:.2f}, rule >= "
            f"{cfg.dataset_share:.2f})" + (f": {', '.join(names)}" if names else "")
        )
    return DriftResult(tuple(columns), share, cfg.dataset_share, dataset, note)
