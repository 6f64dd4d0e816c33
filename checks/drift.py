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

from driftwarden.checks.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from driftwarden.checks.sketch import CategoricalSketch, NumericSketch, Sketch, sketch_frame
from driftwarden.config.model import DriftConfig

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


def wasserstein_norm(ref_sorted: np.ndarray, cur: np.ndarray, ref_std: float) -> float:
    """W1(ref, cur) / max(std(ref), 0.001), as Evidently defines it; ``ref_sorted`` must be sorted.

    The same integral of |F_ref - F_cur| as scipy's, but the current window is sorted once and merged with
    the already-sorted reference sample instead of arg-sorting their concatenation."""
    cur = np.sort(cur)
    grid = np.sort(np.concatenate([ref_sorted, cur]), kind="stable")  # two sorted runs: a merge
    deltas = np.diff(grid)
    f_ref = np.searchsorted(ref_sorted, grid[:-1], side="right") / len(ref_sorted)
    f_cur = np.searchsorted(cur, grid[:-1], side="right") / len(cur)
    return float(np.sum(np.abs(f_ref - f_cur) * deltas) / max(ref_std, 0.001))


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


@dataclass(frozen=True)
class _Measure:
    method: str
    value: float | None
    rows: int
    note: str = ""
    floor: float = 0.0
    """The distance sampling noise alone reaches (99th percentile): the threshold never sits below it."""


def js_noise_floor(ref_counts: dict[str, int], n_cur: int, draws: int = 200, seed: int = 0) -> float:
    """99th percentile of the Jensen-Shannon distance between two samples of the reference's own
    distribution (sizes of the reference and the window): what no drift at all looks like. It matters
    for many categories: 100 equally likely ones give ~0.12 at 1,000 rows, above the 0.1 threshold."""
    keys = list(ref_counts)
    p = np.array([ref_counts[k] for k in keys], dtype=float)
    n_ref = int(p.sum())
    p /= p.sum()
    rng = np.random.default_rng(seed)
    a = rng.multinomial(n_ref, p, size=draws).astype(float)
    b = rng.multinomial(n_cur, p, size=draws).astype(float)
    a /= a.sum(axis=1, keepdims=True)
    b /= b.sum(axis=1, keepdims=True)
    m = (a + b) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_a = np.where(a > 0, a * np.log(a / m), 0).sum(axis=1)
        kl_b = np.where(b > 0, b * np.log(b / m), 0).sum(axis=1)
    return float(np.quantile(np.sqrt(np.maximum((kl_a + kl_b) / 2, 0)), 0.99))


def _sturges_edges(lo: float, hi: float, size: int) -> np.ndarray:
    """numpy's 'sturges' bin edges for ``size`` values spanning [lo, hi]."""
    if hi <= lo:
        return np.array([lo - 0.5, hi + 0.5])
    width = (hi - lo) / (np.log2(size) + 1.0)
    return np.linspace(lo, hi, int(np.ceil((hi - lo) / width)) + 1)


def _numeric_drift(sketch: NumericSketch, ref: NumericProfile, method: str, n_cur: int) -> _Measure:
    """One numeric column; on its raw values when the window kept them (at most RAW_LIMIT), else on its bins."""
    ref_values = ref.values()
    raw = sketch.values()
    norm = max(ref.std, 0.001)
    if method == "wasserstein":
        if raw is not None:
            return _Measure(method, wasserstein_norm(ref_values, raw, ref.std), n_cur)
        w1, error = sketch.wasserstein()
        return _Measure(method, w1 / norm, n_cur, f"binned: error <= {error / norm:.2g}" if error > 1e-4 * norm else "")
    if method == "ks":
        if raw is not None:
            return _Measure(method, float(stats.ks_2samp(ref_values, raw).pvalue), n_cur)
        m, n = sorted([float(len(ref_values)), float(n_cur)], reverse=True)  # scipy's asymptotic mode, as it would
        return _Measure(method, float(stats.kstwo.sf(sketch.ks_statistic(), np.round(m * n / (m + n)))), n_cur)
    ref_counts = _value_counts(ref_values)
    cur_counts = _value_counts(raw) if raw is not None else _counts_from_bins(sketch)
    if method == "chisquare":
        return _Measure(method, _chisquare(ref_counts, cur_counts), n_cur)
    few = len(ref_counts) <= 20
    floor = js_noise_floor(ref_counts, n_cur) if few else 0.0
    if raw is not None:
        return _Measure(method, _binned_js(ref_values, raw), n_cur, floor=floor)
    if few:
        return _Measure(method, jensenshannon_counts(ref_counts, cur_counts), n_cur, floor=floor)
    lo, hi = min(ref_values[0], sketch.minimum), max(ref_values[-1], sketch.maximum)
    edges = _sturges_edges(lo, hi, len(ref_values) + n_cur)
    p = np.histogram(ref_values, edges)[0].astype(float)
    q = np.diff(sketch.cdf_at(edges))
    return _Measure(method, float(distance.jensenshannon(p / p.sum(), q / q.sum())), n_cur, "binned", floor)


def _counts_from_bins(sketch: NumericSketch) -> dict[str, int]:
    """The window's value counts at the reference's values, the rest as one 'other' value: exact for
    Jensen-Shannon (every value the reference lacks weighs the same, together or apart)."""
    at, elsewhere = sketch.counts_at_edges()
    return {**at, "other": elsewhere} if elsewhere else at


def _column_drift(name: str, sketch: Sketch, ref: NumericProfile | CategoricalProfile, cfg: DriftConfig) -> _Measure:
    """How far one column moved; value None when not evaluated. Infinite values are dropped, as Evidently does."""
    n_cur, n_ref = sketch.finite, ref.count
    if n_cur < cfg.min_rows or n_ref < cfg.min_rows:
        return _Measure("none", None, n_cur, f"not evaluated: {min(n_cur, n_ref)} rows < min_rows {cfg.min_rows}")
    configured = cfg.methods.get(name, "auto")
    if isinstance(ref, NumericProfile):
        if not isinstance(sketch, NumericSketch):
            raise TypeError(f"column {name!r} is numeric in the reference")
        n_ref_distinct = len(np.unique(ref.values()))
        distinct = sketch.union_distinct() if n_ref_distinct <= 5 else n_ref_distinct  # as Evidently counts them
        method = _pick_method(configured, True, distinct, n_ref, n_cur, cfg.large_sample)
        return _numeric_drift(sketch, ref, method, n_cur)
    if not isinstance(sketch, CategoricalSketch):
        raise TypeError(f"column {name!r} is categorical in the reference")
    method = _pick_method(configured, False, len(ref.counts), n_ref, n_cur, cfg.large_sample)
    if method in ("wasserstein", "ks"):
        raise ValueError(f"drift.methods: {method} does not apply to categorical column {name!r}")
    if method == "jensenshannon":
        floor = js_noise_floor(ref.counts, n_cur)
        return _Measure(method, jensenshannon_counts(ref.counts, sketch.counts), n_cur, floor=floor)
    return _Measure(method, _chisquare(ref.counts, sketch.counts), n_cur)


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
    """Drift of one in-memory frame (one chunk): each feature, and apart, the prediction and the target."""
    jobs: list[tuple[str, Role, Sketch]] = [
        (f, "feature", s) for f, s in sketch_frame(current, profile, features).items()
    ]
    known = {**profile.numeric, **profile.categorical}
    if prediction is not None and prediction in known:
        jobs.append((prediction, "prediction", sketch_frame(current, profile, [prediction])[prediction]))
    if target is not None and target_name and target_name in known:
        labels = pd.DataFrame({target_name: target})
        jobs.append((target_name, "target", sketch_frame(labels, profile, [target_name])[target_name]))
    return decide_drift(jobs, profile, cfg)


def decide_drift(jobs: list[tuple[str, Role, Sketch]], profile: ReferenceProfile, cfg: DriftConfig) -> DriftResult:
    """Drift of each (column, role, sketch) against the profile, and the dataset rule over the features."""
    measured: dict[str, tuple[Role, _Measure]] = {}
    for name, role, sketch in jobs:
        ref = profile.numeric.get(name) or profile.categorical.get(name)
        if ref is None:
            raise ValueError(f"the reference profile has no column {name!r}")
        measured[name] = (role, _column_drift(name, sketch, ref, cfg))

    # Holm across the p-value tests of each role separately (features never share a family with targets).
    holm: dict[str, tuple[bool, float]] = {}
    for family in ("feature", "prediction", "target"):
        pvals = {
            k: m.value
            for k, (role, m) in measured.items()
            if role == family and m.method in ("ks", "chisquare") and m.value is not None
        }
        holm.update(_holm(pvals, cfg.p_value))

    columns: list[ColumnDrift] = []
    for name, (role, m) in measured.items():
        if m.value is None or m.method == "none":
            columns.append(ColumnDrift(name, role, "none", None, None, None, m.rows, m.note))
        elif m.method in ("ks", "chisquare"):
            rejected, level = holm[name]
            columns.append(ColumnDrift(name, role, m.method, m.value, level, rejected, m.rows, m.note))
        else:
            configured = cfg.wasserstein_threshold if m.method == "wasserstein" else cfg.jensenshannon_threshold
            thr = max(configured, m.floor)
            note = f"threshold raised to the noise floor {m.floor:.3f}" if m.floor > configured else m.note
            drifted = bool(m.value >= thr) if not np.isnan(m.value) else None
            columns.append(ColumnDrift(name, role, m.method, m.value, thr, drifted, m.rows, note))

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
