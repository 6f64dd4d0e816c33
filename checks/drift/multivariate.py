"""Multivariate drift: how badly a PCA fitted on the reference reconstructs a window's rows.

Per-column checks miss a change of the joint distribution that leaves every marginal alone (two features
whose correlation flips sign). A PCA fitted on the reference keeps the directions its rows vary along; rows
from a changed joint distribution lie off them and are reconstructed worse (NannyML's "data reconstruction
drift"). A window drifts when its mean per-row error is above what clean windows of its size reach.

Encoding: a numeric feature is standardized by the reference's mean and standard deviation (nulls and
infinities imputed by the mean, i.e. 0 after standardizing); a categorical one is one-hot over its top
categories, an ``other`` level for the rest and a ``missing`` level, centred by the reference's shares and
divided by one common scale so that, like a numeric feature, it carries a total variance of 1 (per-level
standardizing would let a 12-level categorical outweigh the numeric features, and a rare level's value of
1/sqrt(p) would give the row errors a heavy tail). A numeric dimension constant in the reference keeps scale 1,
so that a value it never had still counts, at face value. A categorical level the reference never had (an
unseen category where ``other`` was empty, a null where there were none) is imputed at the centre, as a numeric
null is: new categories and nulls are validation's to count, with their tolerances and memory, and would
otherwise be a joint drift that no acceptance of the share issue could quiet.

Threshold: the reference's own rows are reconstructed too well by a PCA fitted on them (in-sample), so the
null distribution comes from cross-fitting: each of ``folds`` parts of the reference is scored by a scaler
and PCA fitted on the other parts (same components), giving per-row errors with mean m and standard
deviation s over the N reference rows. Where eigenvalues are close at the cut, which axes a fit keeps is
chance, and the full fit (what production rows meet) may keep others than the fold fits: m is moved by the
full fit's in-sample mean error minus the fold fits' (``axes_shift``), giving the expected error E. A window
of n rows drifts when its mean error exceeds

    E + s * sqrt((z + excess(n))^2 / n + (c * z)^2 / N)

the CLT bound on the window's mean (1/n) and on the estimate E (1/N; c = ``REFERENCE_SE_FACTOR``). Row
errors are skewed to the right (a norm of residuals, heavier with heavy-tailed features), so the mean of a
small window passes z standard errors more often than a normal would: ``excess(n)`` is the bootstrap
quantile of means of n held-out errors, in standard errors, minus z, measured up to ``TAIL_SIZES[-1]`` rows
and decaying as 1/sqrt(n) beyond (the skewness term of the Edgeworth expansion). Only a higher error is
drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from driftwarden.checks.profile import category_text

MIN_REFERENCE_ROWS = 500
"""Below this, the PCA's axes and the held-out error spread are too unsure to hold a window to."""
MAX_LEVELS = 10
"""Categories one-hot encoded per categorical feature (the most frequent); the rest share ``other``."""
Z = 2.576
"""One-sided standard-normal quantile of the threshold (0.5%). Measured, clean windows of 300 to 100,000
rows alarm at most about 1% of the time, heavy-tailed features included (benchmarks/multivariate.py)."""
REFERENCE_SE_FACTOR = 1.2
"""The expected error's standard error, in units of its CLT value s/sqrt(N). Measured as the spread, over
references, of a large clean sample's mean error around E: 0.9 to 1.2 with normal features, about 1.3 with
heavy-tailed ones (t(3), lognormal), whose mean and spread are low together in a reference that lacks the
extremes, and more where eigenvalues are close at the cut. It decides the threshold of windows larger than
the reference, whose own noise is small."""
TAIL_SIZES = (20, 50, 100, 200, 500, 1000)
"""Window sizes at which the small-window excess over z is measured by bootstrap."""
TAIL_DRAWS = 8000
"""Bootstrap window means per size: the 0.5% quantile from 40 above it."""
_TINY = 1e-12
_BLOCK = 1 << 16
Z_CAP = 1e6
"""Standardized values are held within +-Z_CAP reference deviations: a value near 1e308 would overflow the squared
norms to inf - inf = NaN, where a million deviations already marks the row as far off as it can be."""


@dataclass(frozen=True)
class PcaFit:
    """JSON round-trip (to_json()/from_json(d)) of everything needed to score rows."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    """Per categorical feature its one-hot categories (as ``category_text``); then two dimensions follow,
    ``other`` (any other category, unseen ones included) and ``missing`` (null); a row on a level the reference
    never had counts as the centre of its categorical."""
    center: tuple[float, ...]
    """Per encoded dimension (numerical first, then each categorical's levels, other, missing)."""
    scale: tuple[float, ...]
    axes: tuple[tuple[float, ...], ...]
    """The kept principal axes (components x dimensions, orthonormal rows) in standardized space."""
    explained: float
    """Share of the reference's standardized variance the kept axes explain."""
    dimensions: int
    """Independent dimensions of the encoding: varying numerical features plus (seen levels - 1) per
    categorical."""
    row_error_mean: float
    """Mean per-row reconstruction error of held-out reference rows (cross-fitted)."""
    row_error_std: float
    axes_shift: float
    """The full fit's mean in-sample error minus the fold fits' on their training rows: where two
    eigenvalues are close at the cut, which axes are kept is chance, and the fold fits may keep others than
    the full fit; the expected error of a clean window under the full fit is row_error_mean + axes_shift."""
    reference_rows: int
    components: int
    tail_z: float
    """The z at which ``tail_excess`` was measured."""
    tail_sizes: tuple[int, ...]
    tail_excess: tuple[float, ...]
    """Per size in ``tail_sizes``: bootstrap quantile of held-out window means, in standard errors, minus
    ``tail_z`` (at least 0, non-increasing in the size)."""
    _center: np.ndarray = field(init=False, repr=False, compare=False)
    _scale: np.ndarray = field(init=False, repr=False, compare=False)
    _axes: np.ndarray = field(init=False, repr=False, compare=False)
    _lookups: tuple[dict[str, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_center", np.asarray(self.center, dtype=np.float64))
        object.__setattr__(self, "_scale", np.asarray(self.scale, dtype=np.float64))
        object.__setattr__(self, "_axes", np.asarray(self.axes, dtype=np.float64).reshape(self.components, -1))
        object.__setattr__(self, "_lookups", tuple({t: i for i, t in enumerate(lv)} for lv in self.levels))

    def to_json(self) -> dict[str, Any]:
        return {
            "numerical": list(self.numerical),
            "categorical": list(self.categorical),
            "levels": [list(lv) for lv in self.levels],
            "center": list(self.center),
            "scale": list(self.scale),
            "axes": [list(a) for a in self.axes],
            "explained": self.explained,
            "dimensions": self.dimensions,
            "row_error_mean": self.row_error_mean,
            "row_error_std": self.row_error_std,
            "axes_shift": self.axes_shift,
            "reference_rows": self.reference_rows,
            "components": self.components,
            "tail_z": self.tail_z,
            "tail_sizes": list(self.tail_sizes),
            "tail_excess": list(self.tail_excess),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PcaFit:
        return cls(
            numerical=tuple(data["numerical"]),
            categorical=tuple(data["categorical"]),
            levels=tuple(tuple(lv) for lv in data["levels"]),
            center=tuple(float(v) for v in data["center"]),
            scale=tuple(float(v) for v in data["scale"]),
            axes=tuple(tuple(float(v) for v in a) for a in data["axes"]),
            explained=float(data["explained"]),
            dimensions=int(data["dimensions"]),
            row_error_mean=float(data["row_error_mean"]),
            row_error_std=float(data["row_error_std"]),
            axes_shift=float(data["axes_shift"]),
            reference_rows=int(data["reference_rows"]),
            components=int(data["components"]),
            tail_z=float(data["tail_z"]),
            tail_sizes=tuple(int(v) for v in data["tail_sizes"]),
            tail_excess=tuple(float(v) for v in data["tail_excess"]),
        )

    def row_errors(self, chunk: pd.DataFrame) -> np.ndarray:
        """Per-row Euclidean reconstruction error in standardized space (float64, one per row)."""
        z = _encode(chunk, self.numerical, self.categorical, self._lookups, self._center, self._scale)
        return _residual_norm(z, self._axes)

    @property
    def expected_error(self) -> float:
        """The mean error a clean window is expected to have under this fit."""
        return self.row_error_mean + self.axes_shift

    def threshold(self, rows: int, z: float = Z) -> float:
        """The upper threshold of a window's mean error at ``rows`` rows (see the module's docstring)."""
        if rows < 1:
            raise ValueError("a threshold needs at least one row")
        window = (z + self._excess(rows, z)) ** 2 / rows
        reference = (z * REFERENCE_SE_FACTOR) ** 2 / self.reference_rows
        return self.expected_error + self.row_error_std * math.sqrt(window + reference)

    def _excess(self, rows: int, z: float) -> float:
        sizes, excess = self.tail_sizes, self.tail_excess
        if rows >= sizes[-1]:
            found = excess[-1] * math.sqrt(sizes[-1] / rows)
        elif rows <= sizes[0]:
            found = excess[0] * math.sqrt(sizes[0] / rows)
        else:  # linear in 1/sqrt(n), the Edgeworth term's scale
            x = [1 / math.sqrt(s) for s in sizes[::-1]]
            found = float(np.interp(1 / math.sqrt(rows), x, excess[::-1]))
        # the skewness term of the quantile grows as z^2 - 1: carried over to another z that way
        return found * max(z * z - 1, 0.0) / (self.tail_z * self.tail_z - 1)


@dataclass
class ReconstructionSum:
    """Rows and summed row errors of a window, added chunk by chunk and merged in any order."""

    rows: int = 0
    total: float = 0.0

    def add(self, fit: PcaFit, chunk: pd.DataFrame) -> None:
        errors = fit.row_errors(chunk)
        self.rows += len(errors)
        self.total += float(errors.sum())

    def merge(self, other: ReconstructionSum) -> None:
        self.rows += other.rows
        self.total += other.total


@dataclass(frozen=True)
class MultivariateDrift:
    error: float | None
    """The window's mean reconstruction error (None: no rows)."""
    threshold: float | None
    """The upper threshold at this window's size."""
    reference_error: float
    """The mean error a clean window is expected to have (``PcaFit.expected_error``)."""
    rows: int
    drifted: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "threshold": self.threshold,
            "reference_error": self.reference_error,
            "rows": self.rows,
            "drifted": self.drifted,
        }


def judge(fit: PcaFit, acc: ReconstructionSum, z: float = Z) -> MultivariateDrift:
    """A window drifts when its mean error is above the threshold at its size (a lower error is no drift)."""
    if acc.rows == 0:
        return MultivariateDrift(None, None, fit.expected_error, 0, False)
    error = acc.total / acc.rows
    threshold = fit.threshold(acc.rows, z)
    return MultivariateDrift(error, threshold, fit.expected_error, acc.rows, bool(error > threshold))


def fit_pca(
    frame: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    variance: float = 0.65,
    folds: int = 5,
    seed: int = 0,
) -> PcaFit | str:
    """Fit the encoding and PCA on the reference, and the held-out error distribution by cross-fitting.

    Returns a reason in plain words when it cannot be fitted: too few rows, too few dimensions, or
    features missing from the frame."""
    if not 0 < variance < 1:
        raise ValueError(f"variance must lie strictly between 0 and 1, not {variance}")
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, not {folds}")
    absent = [c for c in [*numerical, *categorical] if c not in frame.columns]
    if absent:
        return f"the reference lacks the column(s) {', '.join(absent)}"
    n = len(frame)
    if n < MIN_REFERENCE_ROWS:
        return f"the reference has {n} rows; at least {MIN_REFERENCE_ROWS} are needed"
    levels = tuple(_top_levels(frame[c]) for c in categorical)
    lookups = tuple({t: i for i, t in enumerate(lv)} for lv in levels)
    raw = _encode(frame, tuple(numerical), tuple(categorical), lookups)
    groups = _groups(len(numerical), levels)
    center, scale = _standardize(raw, len(numerical), groups)
    dimensions = _dimensions(raw, center, len(numerical), groups)
    if dimensions < 2:
        return (
            f"the features give {dimensions} independent dimension{'s' if dimensions != 1 else ''}; "
            "at least 2 are needed"
        )
    pca = PCA(svd_solver="covariance_eigh").fit(_standardized(raw, center, scale))
    ratio = np.cumsum(pca.explained_variance_ratio_)
    reaching = int(np.searchsorted(ratio, variance - 1e-12)) + 1  # the smallest count reaching the variance
    components = min(max(reaching, 1), dimensions - 1)
    center = center + pca.mean_ * scale  # the PCA's own (~0) centre folded in
    axes = pca.components_[:components]
    held_out, folds_in_sample = _cross_fitted(raw, len(numerical), groups, components, folds, seed)
    mean, std = float(held_out.mean()), float(held_out.std(ddof=1))
    shift = float(_errors(raw, center, scale, axes).mean()) - folds_in_sample
    return PcaFit(
        numerical=tuple(numerical),
        categorical=tuple(categorical),
        levels=levels,
        center=tuple(float(v) for v in center),
        scale=tuple(float(v) for v in scale),
        axes=tuple(tuple(float(v) for v in a) for a in axes),
        explained=float(ratio[components - 1]),
        dimensions=dimensions,
        row_error_mean=mean,
        row_error_std=std,
        axes_shift=shift,
        reference_rows=n,
        components=components,
        tail_z=Z,
        tail_sizes=TAIL_SIZES,
        tail_excess=_tail_excess(held_out, mean, std, seed),
    )


def _top_levels(series: pd.Series) -> tuple[str, ...]:
    """The most frequent categories (ties by text), at most MAX_LEVELS."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    merged: dict[str, int] = {}
    for value, count in zip(uniques, counts, strict=True):
        text = category_text(value)
        merged[text] = merged.get(text, 0) + int(count)
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(t for t, _ in ranked[:MAX_LEVELS])


def _groups(numeric: int, levels: tuple[tuple[str, ...], ...]) -> list[slice]:
    """The encoded columns of each categorical feature: its levels, then other, then missing."""
    out, start = [], numeric
    for lv in levels:
        out.append(slice(start, start + len(lv) + 2))
        start += len(lv) + 2
    return out


def _encode(
    frame: pd.DataFrame,
    numerical: tuple[str, ...],
    categorical: tuple[str, ...],
    lookups: tuple[dict[str, int], ...],
    center: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Rows as float64, column-major (filled column by column): the numerical values, then each
    categorical's one-hot. Given ``center`` and ``scale``, standardized as ``_standardized`` does, bit for
    bit, without a second matrix; else raw, with NaN where a numerical value is null or infinite."""
    absent = [c for c in [*numerical, *categorical] if c not in frame.columns]
    if absent:
        raise ValueError(f"the chunk lacks the column(s) {', '.join(absent)}")
    n = len(frame)
    width = len(numerical) + sum(len(lk) + 2 for lk in lookups)
    out = np.zeros((n, width), dtype=np.float64, order="F")
    for j, name in enumerate(numerical):
        col = out[:, j]
        if center is None or scale is None:
            col[:] = _as_float(frame[name])
            col[~np.isfinite(col)] = np.nan
        else:
            with np.errstate(over="ignore", invalid="ignore"):  # 1e308 - (-center) is inf: capped below
                np.subtract(_as_float(frame[name]), center[j], out=col)
                np.divide(col, scale[j], out=col)
            col[~np.isfinite(col)] = 0.0
            np.clip(col, -Z_CAP, Z_CAP, out=col)
    start, rows = len(numerical), np.arange(n)
    for name, lookup in zip(categorical, lookups, strict=True):
        codes, uniques = pd.factorize(frame[name], use_na_sentinel=True)
        other = len(lookup)
        # per distinct value its level; the extra last entry is where the null code -1 lands: missing
        level = np.array([lookup.get(category_text(u), other) for u in uniques] + [other + 1], dtype=np.intp)
        hot = start + level[codes]
        if center is None or scale is None:
            out[rows, hot] = 1.0
        else:
            block = slice(start, start + other + 2)
            out[:, block] = (0.0 - center[block]) / scale[block]
            out[rows, hot] = ((1.0 - center) / scale)[hot]
            # a level the reference never had (an unseen category; a null where it had none) is imputed at its
            # centre, as a numeric null is: new categories are validation's to count, not a joint drift
            never = np.flatnonzero(center[hot] <= 0.0)
            if never.size:
                out[never, block] = 0.0
        start += other + 2
    return out


def _as_float(series: pd.Series) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        series = pd.to_numeric(series, errors="coerce")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _standardize(raw: np.ndarray, numeric: int, groups: list[slice]) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale per dimension: numerical by mean and std of the finite values, a categorical's
    one-hot by its shares and one scale sqrt(sum p(1-p)) (its total variance becomes 1)."""
    center = np.zeros(raw.shape[1])
    scale = np.ones(raw.shape[1])
    if numeric:
        num = raw[:, :numeric]
        seen = np.isfinite(num).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            center[:numeric] = np.where(seen > 0, np.nansum(num, axis=0) / np.maximum(seen, 1), 0.0)
            std = np.sqrt(np.nansum((num - center[:numeric]) ** 2, axis=0) / np.maximum(seen, 1))
        floor = _TINY * np.maximum(np.abs(center[:numeric]), 1.0)
        scale[:numeric] = np.where(std > floor, std, 1.0)
    for g in groups:
        share = raw[:, g].mean(axis=0)
        center[g] = share
        total = float(np.sqrt(np.sum(share * (1 - share))))
        scale[g] = total if total > _TINY else 1.0
    return center, scale


def _dimensions(raw: np.ndarray, center: np.ndarray, numeric: int, groups: list[slice]) -> int:
    off = np.abs(raw[:, :numeric] - center[:numeric])
    varying = int(np.count_nonzero((np.nan_to_num(off) > 0).any(axis=0)))
    return varying + sum(max(int(np.count_nonzero(raw[:, g].any(axis=0))) - 1, 0) for g in groups)


def _standardized(raw: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        z = (raw - center) / scale
    z[~np.isfinite(z)] = 0.0  # a null numerical value is imputed by the mean: 0 once standardized
    return np.clip(z, -Z_CAP, Z_CAP, out=z)


def _errors(raw: np.ndarray, center: np.ndarray, scale: np.ndarray, axes: np.ndarray) -> np.ndarray:
    return _residual_norm(_standardized(raw, center, scale), axes)


def _residual_norm(z: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """||z - z A'A|| per row, as sqrt(||z||^2 - ||z A'||^2) (A's rows are orthonormal): no second n x d
    matrix. Rows where the difference keeps few digits (a residual below ~1e-4 of the row's norm) are
    recomputed directly. In blocks of ``_BLOCK`` rows: a product that size runs steadily, where one of a
    million rows fans out to BLAS threads and stalls when the cores are busy."""
    out = np.empty(len(z))
    for start in range(0, len(z), _BLOCK):
        block = z[start : start + _BLOCK]
        proj = block @ axes.T
        norm = np.einsum("ij,ij->i", block, block)
        sq = norm - np.einsum("ij,ij->i", proj, proj)
        close = sq <= 1e-8 * norm
        if close.any():
            rest = block[close] - proj[close] @ axes
            sq[close] = np.einsum("ij,ij->i", rest, rest)
        np.sqrt(sq, out=out[start : start + len(block)])
    return out


def _cross_fitted(
    raw: np.ndarray, numeric: int, groups: list[slice], components: int, folds: int, seed: int
) -> tuple[np.ndarray, float]:
    """Each reference row's error under a scaler and PCA fitted on the other folds (out of sample, like a
    production row's under the fit on the whole reference), and the fold fits' mean in-sample error on
    their own training rows."""
    fold = np.random.default_rng(seed).permutation(len(raw)) % folds
    errors = np.empty(len(raw))
    in_sample = 0.0
    for k in range(folds):
        train, test = raw[fold != k], raw[fold == k]
        center, scale = _standardize(train, numeric, groups)
        pca = PCA(n_components=components, svd_solver="covariance_eigh").fit(_standardized(train, center, scale))
        center = center + pca.mean_ * scale
        errors[fold == k] = _errors(test, center, scale, pca.components_)
        in_sample += float(_errors(train, center, scale, pca.components_).mean()) / folds
    return errors, in_sample


def _tail_excess(held_out: np.ndarray, mean: float, std: float, seed: int) -> tuple[float, ...]:
    """Per TAIL_SIZES, the bootstrap (1 - Phi(Z)) quantile of means of n held-out errors, in standard errors
    sigma/sqrt(n), minus Z; at least 0 and non-increasing in n (noise is not allowed to lower it)."""
    if std <= 0:
        return tuple(0.0 for _ in TAIL_SIZES)
    rng = np.random.default_rng([seed, 1])
    level = 1 - _normal_sf(Z)
    found = []
    for n in TAIL_SIZES:
        means = np.empty(TAIL_DRAWS)
        step = max(1, 2_000_000 // n)
        for i in range(0, TAIL_DRAWS, step):
            take = min(step, TAIL_DRAWS - i)
            means[i : i + take] = held_out[rng.integers(0, len(held_out), size=(take, n))].mean(axis=1)
        found.append((float(np.quantile(means, level)) - mean) / (std / math.sqrt(n)) - Z)
    excess = np.maximum.accumulate(np.maximum(found, 0.0)[::-1])[::-1]
    return tuple(float(v) for v in excess)


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))
