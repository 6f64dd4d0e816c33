"""What drift decides beyond any one method's measurement, the same for every method of a kind.

- ``auto`` picks the method by column type and size: from ``large_sample`` rows on (in the window and the
  reference) effect sizes decide, since at a million rows any p-value is tiny; below it, p-value tests.
  A numeric column with at most 5 distinct values (both samples together) counts as categorical, as in
  Evidently.
- A column below ``min_rows`` (window or reference) is "not evaluated", never "drifted".
- A distance is held to its configured threshold, raised to the method's noise floor when that is higher.
- p-values are Holm-corrected across the columns of one role so tested.
- The dataset drifted when the (weighted) share of drifted features reaches ``dataset_share``.
- "No drift" is not "ruled out": a feature's drift is ruled out only when an upper bound of its distance (the
  large-sample method's: normed Wasserstein or Jensen-Shannon, whatever method decided) stays below that
  distance's threshold. The bound adds to the measured distance what sampling noise alone reaches at the
  window's and the reference's rows (``drift_bound``); a short window cannot rule out a drift at the threshold,
  and a KPI breach there is not called a concept change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from driftwarden.checks.drift.methods import ColumnKind, Measurement, Method, get_method
from driftwarden.checks.drift.results import ColumnDrift, DriftResult, Role
from driftwarden.checks.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from driftwarden.checks.sketch import CategoricalSketch, NumericSketch, Sketch, sketch_frame
from driftwarden.config.model import DriftConfig

AUTO_LARGE: dict[ColumnKind, str] = {"numeric": "wasserstein", "categorical": "jensenshannon"}
"""What ``auto`` picks from ``large_sample`` rows on: effect sizes."""
AUTO_SMALL: dict[ColumnKind, str] = {"numeric": "ks", "categorical": "chisquare"}
"""What ``auto`` picks below ``large_sample`` rows: Holm-corrected tests."""


def auto_method(kind: ColumnKind, large: bool) -> Method:
    """The method ``auto`` picks for a column of ``kind`` (a numeric one with few values counts as categorical)."""
    return get_method((AUTO_LARGE if large else AUTO_SMALL)[kind])


def _pick_method(configured: str, is_numeric: bool, n_unique: int, n_ref: int, n_cur: int, large: int) -> Method:
    if configured != "auto":
        return get_method(configured)
    return auto_method("numeric" if is_numeric and n_unique > 5 else "categorical", min(n_ref, n_cur) >= large)


@dataclass(frozen=True)
class ColumnMeasure:
    method: Method | None
    """None: not evaluated."""
    value: float | None
    rows: int
    note: str = ""
    floor: float = 0.0
    """The distance sampling noise alone reaches (99th percentile): the threshold never sits below it."""
    bound: float | None = None
    """An upper bound of the column's true distance (``drift_bound``)."""
    bound_threshold: float | None = None
    """The distance threshold the bound is held to."""


def column_measure(
    name: str, sketch: Sketch, ref: NumericProfile | CategoricalProfile, cfg: DriftConfig
) -> ColumnMeasure:
    """How far one column moved (before Holm and the threshold); value None when not evaluated. Infinite values
    are dropped, as Evidently does."""
    n_cur, n_ref = sketch.finite, ref.count
    if n_cur < cfg.min_rows or n_ref < cfg.min_rows:
        return ColumnMeasure(None, None, n_cur, f"not evaluated: {min(n_cur, n_ref)} rows < min_rows {cfg.min_rows}")
    configured = cfg.methods.get(name, "auto")
    if isinstance(ref, NumericProfile):
        if not isinstance(sketch, NumericSketch):
            raise TypeError(f"column {name!r} is numeric in the reference")
        n_ref_distinct = len(np.unique(ref.values()))
        distinct = sketch.union_distinct() if n_ref_distinct <= 5 else n_ref_distinct  # as Evidently counts them
        method = _pick_method(configured, True, distinct, n_ref, n_cur, cfg.large_sample)
        if "numeric" not in method.applies_to:
            raise ValueError(f"drift.methods: {method.key} does not apply to numeric column {name!r}")
        m = method.numeric(ref, sketch)
        kind: ColumnKind = "numeric" if distinct > 5 else "categorical"
    else:
        if not isinstance(sketch, CategoricalSketch):
            raise TypeError(f"column {name!r} is categorical in the reference")
        method = _pick_method(configured, False, len(ref.counts), n_ref, n_cur, cfg.large_sample)
        if "categorical" not in method.applies_to:
            raise ValueError(f"drift.methods: {method.key} does not apply to categorical column {name!r}")
        m = method.categorical(ref, sketch)
        kind = "categorical"
    bound, bound_thr = drift_bound(sketch, ref, cfg, method, m, kind)
    return ColumnMeasure(method, m.value, n_cur, m.note, m.floor, bound, bound_thr)


BOUND_Z = 1.645
"""The bound's one-sided confidence: a drift at the threshold is seen (measured above the bound's margin) with
95% probability."""


def drift_bound(
    sketch: Sketch,
    ref: NumericProfile | CategoricalProfile,
    cfg: DriftConfig,
    method: Method,
    measured: Measurement,
    kind: ColumnKind,
) -> tuple[float | None, float | None]:
    """An upper bound of the column's true drift distance and the threshold it is held to: below the threshold,
    a drift at the threshold would have been seen. The distance is the large-sample method's (the one measured
    when it is a distance, else what ``auto`` picks from ``large_sample`` rows on).

    - Normed Wasserstein: the measured distance plus BOUND_Z standard errors of the difference of the two
      means in reference standard deviations, sqrt(1/n + 1/m). W1 is never below the difference of the means,
      so a shift at the threshold measures at least the threshold minus that margin in 95% of windows; a
      change of spread or shape at the threshold measures more, not less (``benchmarks/drift_power.py``
      measures how often a drift at the threshold is ruled out all the same).
      The margin uses the window's own spread where it is wider than the reference's (a change confined to a
      tail widens the noise of the mean), and the reference sample's size (the distance is measured on it).
    - Jensen-Shannon: the distance at which the measured one would be in the lower 5% tail (``js_upper_bound``:
      the two-sample chi-square statistic is non-central under a drift), over the categories, a numeric
      column's few values, or its Sturges bins.
    The bound is held to the configured threshold, never to one raised to the noise floor: where noise alone
    reaches the threshold, nothing is ruled out."""
    if method.yields == "distance":
        large, m = method, measured
    else:
        large = auto_method(kind, True)
        m = large.numeric(ref, sketch) if isinstance(ref, NumericProfile) else large.categorical(ref, sketch)  # type: ignore[arg-type]
    if np.isnan(m.value):
        return None, None
    threshold = large.threshold(cfg)  # the configured one: a floor raised by noise is no level to rule out at
    n_ref = min(ref.count, len(ref.values())) if isinstance(ref, NumericProfile) else ref.count
    if isinstance(ref, NumericProfile) and isinstance(sketch, NumericSketch) and large.key == "wasserstein":
        # the window's own spread, when it is wider: a change in a tail widens the mean's noise
        spread = max(_spread(sketch) / max(ref.std, 0.001), 1.0)
        margin = BOUND_Z * np.sqrt(spread**2 / max(sketch.finite, 1) + 1 / max(n_ref, 1))
        return float(m.value + margin), threshold
    if large.key == "jensenshannon":
        if isinstance(sketch, CategoricalSketch) and isinstance(ref, CategoricalProfile):
            categories = len(set(ref.counts) | {k for k, v in sketch.counts.items() if v})
        else:  # a numeric column's values or Sturges bins
            distinct = len(np.unique(ref.values())) if isinstance(ref, NumericProfile) else 2
            categories = distinct if distinct <= 20 else int(np.log2(n_ref + sketch.finite) + 1)
        return js_upper_bound(m.value, categories, sketch.finite, n_ref), threshold
    return None, None  # a method with no bound: nothing is ruled out by it


def _spread(sketch: NumericSketch) -> float:
    """The window's standard deviation: of its raw values, else of its bins (midpoints; the outer bins at the
    window's extremes)."""
    raw = sketch.values()
    if raw is not None and raw.size > 1:
        with np.errstate(over="ignore", invalid="ignore"):  # values near +-1e308: an infinite spread
            return float(np.std(raw))
    edges = sketch.edges
    if sketch.finite < 2 or edges.size < 2:
        return 0.0
    mids = np.concatenate([[sketch.minimum], (edges[:-1] + edges[1:]) / 2, [sketch.maximum]])
    counts = sketch.counts.astype(float)
    mean = float(np.sum(mids * counts) / counts.sum())
    return float(np.sqrt(np.sum(counts * (mids - mean) ** 2) / counts.sum()))


def js_upper_bound(measured: float, categories: int, n_cur: int, n_ref: int, confidence: float = 0.95) -> float:
    """The upper confidence bound of a Jensen-Shannon distance between two category distributions, from the one
    measured between samples of ``n_cur`` and ``n_ref`` rows. The two-sample Pearson statistic is about
    8 n_eff JSD (n_eff = n m / (n + m); JSD ~ sum (p - q)^2 / (8 mid)), and under a true distance d it follows a
    non-central chi-square with ``categories`` - 1 degrees of freedom and non-centrality 8 n_eff d^2: the bound
    is the d at which the measured statistic would be the lower 5% tail."""
    from scipy import optimize, stats

    n_eff = n_cur * n_ref / max(n_cur + n_ref, 1)
    df = max(categories - 1, 1)
    observed = 8 * n_eff * measured**2
    tail = 1 - confidence
    if stats.chi2.cdf(observed, df) <= tail:  # below what noise alone gives: the approximation does not hold
        return measured

    def excess(d: float) -> float:
        return float(stats.ncx2.cdf(observed, df, 8 * n_eff * d * d)) - tail

    high = 1.0
    if excess(high) > 0:
        return high
    return float(optimize.brentq(excess, 0.0, high, xtol=1e-4))


def holm(p_values: dict[str, float], alpha: float) -> dict[str, tuple[bool, float]]:
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


def _bounds(m: ColumnMeasure) -> tuple[float | None, float | None]:
    return m.bound, m.bound_threshold


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
    measured: dict[str, tuple[Role, ColumnMeasure]] = {}
    for name, role, sketch in jobs:
        ref = profile.numeric.get(name) or profile.categorical.get(name)
        if ref is None:
            raise ValueError(f"the reference profile has no column {name!r}")
        measured[name] = (role, column_measure(name, sketch, ref, cfg))

    # Holm across the p-value tests of each role separately (features never share a family with targets).
    adjusted: dict[str, tuple[bool, float]] = {}
    for family in ("feature", "prediction", "target"):
        pvals = {
            k: m.value
            for k, (role, m) in measured.items()
            if role == family and m.method is not None and m.method.yields == "p_value" and m.value is not None
        }
        adjusted.update(holm(pvals, cfg.p_value))

    columns: list[ColumnDrift] = []
    for name, (role, m) in measured.items():
        if m.value is None or m.method is None:
            columns.append(ColumnDrift(name, role, "none", None, None, None, m.rows, m.note))
        elif m.method.yields == "p_value":
            rejected, level = adjusted[name]
            columns.append(ColumnDrift(name, role, m.method.key, m.value, level, rejected, m.rows, m.note, *_bounds(m)))
        else:
            configured = m.method.threshold(cfg)
            thr = max(configured, m.floor)
            note = f"threshold raised to the noise floor {m.floor:.3f}" if m.floor > configured else m.note
            drifted = bool(m.value >= thr) if not np.isnan(m.value) else None
            columns.append(ColumnDrift(name, role, m.method.key, m.value, thr, drifted, m.rows, note, *_bounds(m)))

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
