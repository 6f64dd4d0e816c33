"""What a performance estimator is, the registry that finds one for a task, and the bands every one shares.

An estimator is fitted on the reference (labelled, out-of-sample for the model) and then reads a window's
rows without their labels: ``row_values`` turns a chunk into a few per-row numbers (calibrated probabilities,
predicted losses), ``tally`` sums them into a ``Tally`` (mergeable in any order, so a window read in chunks, or
by the workers of a cluster, comes to the same sums), and ``estimate`` turns a tally into the estimated KPIs.

Bands come from the reference alone and never from rows an estimator was fitted on: the reference is cut into
folds, each fold's row values come from an estimator fitted on the other folds (cross-fitting), and random
subsets of those held-out rows give the spread of (estimate - realized) at a subset's size; a window's band
scales it to the window's rows (~1/sqrt(n)).

One more estimator is one more module in this package, its fit function under its registration line, e.g.
``@register_estimator("cbpe", tasks=("binary", "multiclass"), metrics=(...))``, and its import in
``__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from driftwarden.checks.metrics import get_metric
from driftwarden.config.model import ModelConfig, Task

MIN_REFERENCE_ROWS = 500
"""Fewer labelled reference rows: an estimator's calibration (and its bands) would be mostly noise."""
MIN_WINDOW_ROWS = 100
"""Fewer rows in a window: its band would span most of the metric's range."""
MAX_FIT_ROWS = 20_000
"""Reference rows an estimator is fitted on at most (a seeded uniform sample beyond)."""
FOLDS = 5
BAND_Z = 1.96
BAND_DRAWS = 200
JACKKNIFE_T = 2.776
"""The jackknife's variance has FOLDS - 1 = 4 degrees of freedom: its part of the band takes Student's t (97.5%),
not the normal's 1.96 (a calibration error beyond 1.96 jackknife deviations is shared by every window)."""
MAX_SHIFT_COLUMNS = 3
"""Columns whose tails an estimator is refitted without (``held_out_sigma``'s shift part), the strongest first."""
SUPPORT_Q = 0.01
EXTRAPOLATING = 0.15
"""The share of a window's rows beyond the reference's range (more than the reference's own share there) at
which its band holds all of the estimator's error on unseen rows (``held_out_sigma``'s shift part). Set on
the generated shifts of ``benchmarks/estimation.py``: at 0.2 the RMSE band of 5,000-row windows moved 1.5
standard deviations covered 89%; at 0.15, 93%; at 0.1 most bands covered every window (too wide to use)."""


@dataclass(frozen=True)
class Estimate:
    """One KPI estimated for a window's rows, with its 95% band for the realized value on those rows."""

    metric: str
    value: float | None
    """None: not estimable (``reason`` says why)."""
    lower: float | None
    upper: float | None
    rows: int
    method: str
    reason: str = ""

    @property
    def estimable(self) -> bool:
        return self.value is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Support:
    """The reference's range of each numeric column (its 1% and 99% quantiles) and the share of its own rows
    beyond it in some column: a window with more rows beyond it asks the estimator to extrapolate."""

    columns: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    reference_share: float

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Support:
        x = frame.to_numpy(dtype=float)
        low, high = np.nanquantile(x, SUPPORT_Q, axis=0), np.nanquantile(x, 1 - SUPPORT_Q, axis=0)
        support = cls(tuple(frame.columns), low, high, 0.0)
        return cls(support.columns, low, high, float(support.beyond(frame).mean()))

    def beyond(self, chunk: pd.DataFrame) -> np.ndarray:
        part = chunk[list(self.columns)]
        if not all(pd.api.types.is_numeric_dtype(t) for t in part.dtypes):
            part = part.apply(pd.to_numeric, errors="coerce")
        x = part.to_numpy(dtype=float)
        return ((x < self.low) | (x > self.high)).any(axis=1).astype(float)

    def excess(self, share: float) -> float:
        """How much of the window lies beyond the reference, beyond what the reference itself holds there (0: no
        more than the reference, 1: EXTRAPOLATING more of its rows or beyond)."""
        return float(min(max(share - self.reference_share, 0.0) / EXTRAPOLATING, 1.0))


@dataclass
class Tally:
    """Sums over a window's rows (``sums``: scalars, ``arrays``: histograms or matrices, added elementwise)."""

    rows: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def merge(self, other: Tally) -> None:
        self.rows += other.rows
        for k, v in other.sums.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        for k, a in other.arrays.items():
            self.arrays[k] = self.arrays[k] + a if k in self.arrays else a.copy()


class Fitted(Protocol):
    """A fitted estimator of some KPIs (``metrics``)."""

    @property
    def method(self) -> str: ...

    @property
    def metrics(self) -> tuple[str, ...]: ...

    @property
    def sigma(self) -> dict[str, tuple[float, float, float]]:
        """Metric -> how far its estimate strays from the realized value (``held_out_sigma``)."""
        ...

    @property
    def support(self) -> Support | None: ...

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The columns of ``row_values``."""
        ...

    def row_values(self, chunk: pd.DataFrame, labels: np.ndarray | None = None) -> pd.DataFrame: ...

    def effective(self, tally: Tally) -> dict[str, float]:
        """Per metric, the (expected) rows it counts: what its sampling spread shrinks with."""
        ...

    def tally(self, values: pd.DataFrame) -> Tally: ...

    def point(self, tally: Tally) -> dict[str, float | None]: ...


@dataclass(frozen=True)
class NotEstimable:
    """The estimator that cannot be had, and why (in words a user reads in the run's JSON)."""

    method: str
    metrics: tuple[str, ...]
    reason: str


FitFn = Callable[[pd.DataFrame, ModelConfig, tuple[str, ...]], "Fitted | NotEstimable"]


@dataclass(frozen=True)
class EstimatorSpec:
    key: str
    tasks: frozenset[Task]
    metrics: frozenset[str]
    fit: FitFn


_ESTIMATORS: dict[str, EstimatorSpec] = {}


def register_estimator(key: str, *, tasks: Sequence[Task], metrics: Sequence[str]) -> Callable[[FitFn], FitFn]:
    """Register a fit function: (reference rows, config, metrics to estimate) -> a fitted estimator."""

    def wrap(fn: FitFn) -> FitFn:
        if key in _ESTIMATORS:
            raise ValueError(f"estimator {key!r} is registered already")
        _ESTIMATORS[key] = EstimatorSpec(key, frozenset(tasks), frozenset(metrics), fn)
        return fn

    return wrap


def registered_estimators() -> dict[str, EstimatorSpec]:
    return dict(_ESTIMATORS)


def estimator_for(task: Task) -> EstimatorSpec | None:
    for spec in _ESTIMATORS.values():
        if task in spec.tasks:
            return spec
    return None


def estimated_metrics(cfg: ModelConfig) -> tuple[str, ...]:
    """The configured KPI metrics an estimator exists for, in config order."""
    spec = estimator_for(cfg.task)
    if spec is None:
        return ()
    return tuple(dict.fromkeys(k.metric for k in cfg.kpis if k.metric in spec.metrics))


def fit_estimator(reference: pd.DataFrame, cfg: ModelConfig) -> Fitted | NotEstimable | None:
    """The estimator of the model's KPIs, fitted on the reference's labelled rows (None: no KPI of the model
    can be estimated, e.g. only r2 configured, or the model's task has no estimator)."""
    spec = estimator_for(cfg.task)
    metrics = estimated_metrics(cfg)
    if spec is None or not metrics:
        return None
    target = cfg.columns.target
    if target not in reference.columns:
        return NotEstimable(
            spec.key, metrics, f"the reference has no target column {target!r}; an estimate is fitted on its labels"
        )
    labelled = reference[reference[target].notna()]
    if len(labelled) < MIN_REFERENCE_ROWS:
        return NotEstimable(
            spec.key,
            metrics,
            f"the reference has {len(labelled)} labelled rows; an estimate needs at least {MIN_REFERENCE_ROWS}",
        )
    if len(labelled) > MAX_FIT_ROWS:
        labelled = labelled.sample(MAX_FIT_ROWS, random_state=0)
    return spec.fit(labelled.reset_index(drop=True), cfg, metrics)


def empty_tally() -> Tally:
    return Tally()


def estimates(fitted: Fitted | NotEstimable, tally: Tally) -> tuple[Estimate, ...]:
    """The estimated KPIs of the rows summed in ``tally``, each with its band at their number."""
    if isinstance(fitted, NotEstimable):
        return tuple(Estimate(m, None, None, None, tally.rows, fitted.method, fitted.reason) for m in fitted.metrics)
    if tally.rows < MIN_WINDOW_ROWS:
        why = f"{tally.rows} rows; an estimate needs at least {MIN_WINDOW_ROWS}"
        return tuple(Estimate(m, None, None, None, tally.rows, fitted.method, why) for m in fitted.metrics)
    points = fitted.point(tally)
    jackknife = _jackknife(fitted, tally)
    effective = fitted.effective(tally)
    out = []
    for metric in fitted.metrics:
        value = points.get(metric)
        if value is None or not np.isfinite(value):
            why = "undefined on these rows (e.g. no predicted positives)"
            out.append(Estimate(metric, None, None, None, tally.rows, fitted.method, why))
            continue
        spread, at, shift = fitted.sigma[metric]
        rows = max(effective.get(metric, float(tally.rows)), 1.0)
        beyond = fitted.support.excess(tally.sums.get("beyond", 0.0) / tally.rows) if fitted.support else 0.0
        sampling = BAND_Z**2 * (spread**2 * at / rows + (shift * beyond) ** 2)
        half = float(np.sqrt(sampling + JACKKNIFE_T**2 * jackknife.get(metric, 0.0)))
        lo, hi = _clip(metric, value - half), _clip(metric, value + half)
        out.append(Estimate(metric, float(value), lo, hi, tally.rows, fitted.method))
    return tuple(out)


def _jackknife(fitted: Fitted, tally: Tally) -> dict[str, float]:
    """The variance of each estimate that comes from fitting the estimator on this reference, on these rows:
    the delete-a-group jackknife over the estimators fitted without one fold each ((K - 1) / K times the sum
    of squared deviations of their estimates), for estimators that sum those too (``variants``)."""
    variants = getattr(fitted, "variants", ())
    if not variants:
        return {}
    points = [fitted.point(tally, v) for v in variants]  # type: ignore[call-arg]
    k = len(variants)
    out = {}
    for m in fitted.metrics:
        vals = [p.get(m) for p in points]
        if all(v is not None and np.isfinite(v) for v in vals):
            x = np.asarray(vals, dtype=float)
            out[m] = float((k - 1) / k * ((x - x.mean()) ** 2).sum())
    return out


def _clip(metric: str, x: float) -> float:
    if get_metric(metric).money:  # an amount: any sign, no bound
        return float(x)
    if get_metric(metric).tasks & {"binary", "multiclass"}:
        return float(min(max(x, 0.0), 1.0))
    return float(max(x, 0.0))


def folds_of(n: int, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Each row's fold, seeded and balanced."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n) % folds)


def held_out_sigma(
    fit_rows: Callable[[np.ndarray], Fitted],
    full: Fitted,
    reference: pd.DataFrame,
    labels: np.ndarray,
    features: pd.DataFrame,
    draws: int = BAND_DRAWS,
    seed: int = 1,
) -> dict[str, tuple[float, float, float]]:
    """How far (estimate - realized) strays, from the reference alone and never on rows an estimator was fitted
    on. ``fit_rows``: the estimator fitted on those reference rows (``full``: on all of them); ``labels``: the
    reference's labels, which give the realized KPIs through the same sums (``row_values(..., labels)``);
    ``features``: the numeric columns a shift moves. Two parts:

    - sampling: the spread over random subsets of a tenth of the rows (100 to 1,000) of cross-fitted row values
      (each fold's from an estimator fitted on the other folds), which shrinks as 1/sqrt(rows); subsets drawn
      without replacement from a finite reference vary less than windows from the population, which the finite
      population correction undoes;
    - shift: what an estimator errs by where the window's rows lie beyond what it was fitted on, which more rows
      do not shrink: for each column, fitted on the reference less its top (bottom) fifth and judged on that
      fifth, the mean squared error beyond the fifth's sampling spread. A window's band holds it in the share
      of its rows that lie beyond the reference (``Support.excess``): none for a window within the reference's
      range, all of it for a window with a fifth of its rows beyond it.

    Returns metric -> (sampling spread, at that many effective rows, shift spread): the sampling part scales to a
    window by the rows its metric counts (``effective``: predicted positives for precision, actual positives
    for recall), which a shift changes."""
    n = len(reference)
    folds = folds_of(n)
    parts = []
    for k in range(FOLDS):
        inside = folds != k
        parts.append(fit_rows(np.flatnonzero(inside)).row_values(reference[~inside]))
    held_out = pd.concat(parts).sort_index()
    size = int(min(max(n // 10, 100), 1000, n // 2))
    rng = np.random.default_rng(seed)

    any_fit = full
    observed = any_fit.row_values(reference, labels)

    def error(fitted: Fitted, values: pd.DataFrame, rows: np.ndarray) -> dict[str, float]:
        points = fitted.point(fitted.tally(values))
        real = any_fit.point(any_fit.tally(observed.iloc[rows]))
        out = {}
        for m in fitted.metrics:
            est, got = points.get(m), real.get(m)
            if est is not None and got is not None and np.isfinite(est) and np.isfinite(got):
                out[m] = float(est) - float(got)
        return out

    errors: dict[str, list[float]] = {m: [] for m in any_fit.metrics}
    counts: dict[str, list[float]] = {m: [] for m in any_fit.metrics}
    for _ in range(draws):
        rows = np.sort(rng.choice(n, size, replace=False))
        for m, e in error(any_fit, held_out.iloc[rows], rows).items():
            errors[m].append(e)
        for m, c in any_fit.effective(any_fit.tally(held_out.iloc[rows])).items():
            counts[m].append(c)
    fpc = 1.0 - size / n
    spread = {
        m: float(np.std(errs, ddof=1)) / np.sqrt(fpc) if len(errs) > 10 else float("nan") for m, errs in errors.items()
    }
    shifted: dict[str, list[float]] = {m: [] for m in any_fit.metrics}
    for col in features.columns:
        order = np.argsort(features[col].to_numpy(dtype=float), kind="stable")
        fifth = n // 5
        for tail, rest in ((order[-fifth:], order[:-fifth]), (order[:fifth], order[fifth:])):
            tail = np.sort(tail)
            fitted = fit_rows(np.sort(rest))
            for m, e in error(fitted, fitted.row_values(reference.iloc[tail]), tail).items():
                shifted[m].append(e * e - spread[m] ** 2 * size / len(tail))
    out = {}
    for m in any_fit.metrics:
        excess = float(np.mean(shifted[m])) if shifted[m] else 0.0
        at = float(np.mean(counts[m])) if counts[m] else float(size)
        out[m] = (spread[m], at, float(np.sqrt(max(excess, 0.0))))
    return out
