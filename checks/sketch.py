"""Mergeable summaries of a window's columns, built chunk by chunk, from which drift is decided exactly.

A window is read in chunks, so that ten million rows never have to sit in memory at once. Each column's
chunk goes into a sketch that merges by addition:

- a numeric column is binned at the reference's stored sample points r_1 < ... < r_K: per bin the count,
  the count exactly at r_k (ties) and the sum of offsets from the bin's left edge, summed as integers (see
  ``OFFSET_BITS``) so that a sketch is the same however its window was chunked or merged. On each bin the
  reference CDF is constant, so the integral of |F_ref - F_cur| there (the Wasserstein distance) and the
  supremum (the KS statistic) follow from those sums exactly, except in a bin where the two CDFs cross,
  whose cur points are taken as evenly spread (error at most the bin's width times its mass; reported).
  Up to ``RAW_LIMIT`` values the column's raw values are kept too, and small windows are measured on them
  directly, exactly as before (scipy's KS is exact up to 10,000 rows; beyond, it is asymptotic in the
  statistic alone, which the bins give exactly).
- a categorical column keeps its category counts (as text) and nulls.

Both ``merge`` another sketch of the same column: merging the sketches of a window's parts gives the sketch
of the whole window, bit for bit (what lets workers of a cluster sketch a window's chunks apart).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from driftwarden.checks.profile import CategoricalProfile, NumericProfile, ReferenceProfile, as_category_text

RAW_LIMIT = 10_000
"""Raw values of a column are kept while the window has at most this many; scipy's KS is exact up to it."""
FEW_VALUES = 20
"""A numeric reference with at most this many distinct values is binned at its values only."""
GRID = 4096
EXTRA_DISTINCT = 6
"""Distinct current values off the reference's points that are counted (to tell 'few values' apart)."""
OFFSET_BITS = 40
"""An offset inside an inner bin is counted in steps of 2^-OFFSET_BITS of the bin's width rounded up to a power
of two (a relative error below 1e-12), as an integer: integer sums are exact in any order, where float sums
differ in their last bits with the chunking. The two outer bins, unbounded, are summed exactly (``_exact_sum``)."""
_SLICE = 1 << 22
"""Values added at a time: an inner bin's sum of at most this many steps below 2^(OFFSET_BITS+1) fits an int64."""
_TAIL_SCALE = 1126
"""Outer-bin sums are integers of 2^-1126: a float's 53-bit mantissa below its smallest exponent (2^-1074)."""


@dataclass
class NumericSketch:
    """One numeric column of a window, binned at the reference's sample points (``edges``)."""

    edges: np.ndarray
    """r_1 < ... < r_K: the distinct values of the reference's sorted sample (and a grid, see for_profile)."""
    ref_cdf: np.ndarray
    """F_ref(r_k): the share of the reference sample at or below each edge."""
    rows: int = 0
    """Rows seen, nulls and infinities included."""
    nulls: int = 0
    infinite: int = 0
    minimum: float = np.inf
    maximum: float = -np.inf
    counts: np.ndarray = field(init=False)
    """Bin 0: x < r_1; bin k: r_k <= x < r_(k+1); bin K: x >= r_K."""
    ties: np.ndarray = field(init=False)
    """Values exactly at r_k."""
    raw: list[np.ndarray] | None = field(default_factory=list)
    """The finite values while there are at most RAW_LIMIT of them; None after."""
    extra: set[float] | None = field(default_factory=set)
    """Distinct finite values that are no reference point (at most EXTRA_DISTINCT; None beyond)."""
    _step: np.ndarray = field(init=False, repr=False, compare=False)
    """Per inner bin, the offset counted as 1: 2^-OFFSET_BITS of its width rounded up to a power of two."""
    _inner: np.ndarray = field(init=False, repr=False)
    """Per inner bin (k = 1..K-1), the sum of offsets in steps, as high and low OFFSET_BITS bits (2 x K-1)."""
    _tails: list[int] = field(init=False, repr=False)
    """Sums of (r_1 - x) below r_1 and of (x - r_K) from r_K on, exactly, in units of 2^-_TAIL_SCALE."""

    def __post_init__(self) -> None:
        width = np.diff(self.edges)
        step = np.ldexp(1.0, np.ceil(np.log2(width)).astype(int) - OFFSET_BITS) if width.size else width
        # Bins a few subnormals wide (a reference of values near 5e-324) would round their step to 0 and count
        # every offset as NaN: the smallest positive double is the finest step there is.
        self._step = np.maximum(step, np.finfo(np.float64).smallest_subnormal)
        self._zero()

    def _zero(self) -> None:
        k = len(self.edges)
        self.counts = np.zeros(k + 1, dtype=np.int64)
        self.ties = np.zeros(k, dtype=np.int64)
        self._inner = np.zeros((2, max(k - 1, 0)), dtype=np.int64)
        self._tails = [0, 0]

    def empty(self) -> NumericSketch:
        """A sketch of no rows on the same edges (their arrays shared, not recomputed)."""
        new = copy.copy(self)
        new.rows = new.nulls = new.infinite = 0
        new.minimum, new.maximum = np.inf, -np.inf
        new.raw, new.extra = [], set()
        new._zero()
        return new

    @classmethod
    def for_profile(cls, ref: NumericProfile, grid: int = GRID) -> NumericSketch:
        """Edges at every reference point; a continuous column also gets a uniform grid of ``grid`` bins over
        the reference's range (F_ref stays constant between edges), so that no bin is wide in a sparse tail."""
        values = ref.values()
        edges = np.unique(values)
        if len(edges) > FEW_VALUES:
            edges = np.union1d(edges, np.linspace(edges[0], edges[-1], grid + 1))
        return cls(edges, np.searchsorted(values, edges, side="right") / len(values))

    @property
    def finite(self) -> int:
        return int(self.counts.sum())

    @property
    def offsets(self) -> np.ndarray:
        """Bin 0: sum of (r_1 - x); bin k >= 1: sum of (x - r_k)."""
        out = np.empty(len(self.edges) + 1, dtype=float)
        if len(self.edges) == 0:
            return out
        hi, lo = self._inner
        out[1:-1] = hi.astype(float) * np.ldexp(self._step, OFFSET_BITS) + lo.astype(float) * self._step
        out[0], out[-1] = (t / (1 << _TAIL_SCALE) for t in self._tails)  # int / int: correctly rounded
        return out

    def add(self, values: pd.Series | np.ndarray) -> None:
        x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
        if x.size > _SLICE:
            for start in range(0, x.size, _SLICE):
                self.add(x[start : start + _SLICE])
            return
        self.rows += len(x)
        nan = np.isnan(x)
        self.nulls += int(nan.sum())
        finite = np.isfinite(x)
        self.infinite += int((~finite & ~nan).sum())
        x = np.sort(x[finite])
        if x.size == 0:
            return
        self.minimum = min(self.minimum, float(x[0]))
        self.maximum = max(self.maximum, float(x[-1]))
        left = np.searchsorted(x, self.edges, side="left")  # values below each edge
        right = np.searchsorted(x, self.edges, side="right")
        bounds = np.concatenate([[0], left, [x.size]])
        counts = np.diff(bounds)
        self.counts += counts
        self.ties += right - left
        self._sum_offsets(x, bounds)
        self._keep_raw(x)
        self._count_extra(x)

    def _sum_offsets(self, x: np.ndarray, bounds: np.ndarray) -> None:
        """Add the offsets of sorted ``x`` (bin k holds x[bounds[k]:bounds[k+1]]) to the exact sums."""
        first, last = self.edges[0], self.edges[-1]
        self._tails[0] += _exact_sum(first - x[: bounds[1]])
        self._tails[1] += _exact_sum(x[bounds[-2] :] - last)
        inner = x[bounds[1] : bounds[-2]]
        if inner.size == 0:
            return
        sizes = np.diff(bounds[1:-1])
        bin_of = np.repeat(np.arange(len(sizes)), sizes)
        steps = np.rint((inner - self.edges[bin_of]) / self._step[bin_of]).astype(np.int64)
        filled = np.flatnonzero(sizes)
        starts = (bounds[1:-2] - bounds[1])[filled]
        self._carry(filled, np.add.reduceat(steps, starts))

    def _carry(self, where: np.ndarray, low: np.ndarray, high: np.ndarray | None = None) -> None:
        """Add (high, low) sums of steps to the inner bins ``where``, keeping the low part below 2^OFFSET_BITS."""
        hi, lo = self._inner
        lo[where] += low
        if high is not None:
            hi[where] += high
        hi += lo >> OFFSET_BITS
        lo &= (1 << OFFSET_BITS) - 1

    def merge(self, other: Sketch) -> None:
        """Add another sketch of the same column (the same edges: only its counts are read, so that a part
        sent between processes may leave its edges behind, see ``detached``)."""
        if not isinstance(other, NumericSketch) or other.counts.shape != self.counts.shape:
            raise ValueError("cannot merge sketches binned at different reference points")
        self.rows += other.rows
        self.nulls += other.nulls
        self.infinite += other.infinite
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.counts += other.counts
        self.ties += other.ties
        self._carry(np.arange(self._inner.shape[1]), other._inner[1], other._inner[0])
        self._tails = [a + b for a, b in zip(self._tails, other._tails, strict=True)]
        if self.raw is not None and other.raw is not None and sum(map(len, [*self.raw, *other.raw])) <= RAW_LIMIT:
            self.raw.extend(other.raw)
        else:
            self.raw = None
        if self.extra is not None and other.extra is not None and len(self.extra | other.extra) <= EXTRA_DISTINCT:
            self.extra |= other.extra
        else:
            self.extra = None

    def detached(self) -> NumericSketch:
        """This sketch's counts without the edges and the reference's CDF (the receiver has them): what a
        worker sends back, a few hundred kB less a column. Only ``merge`` may read it."""
        new = copy.copy(self)
        new.edges = new.ref_cdf = new._step = np.empty(0)
        return new

    def _keep_raw(self, x: np.ndarray) -> None:
        if self.raw is None:
            return
        if sum(len(r) for r in self.raw) + x.size > RAW_LIMIT:
            self.raw = None
        else:
            self.raw.append(x)

    def _count_extra(self, x: np.ndarray) -> None:
        if self.extra is None or len(self.edges) > 5:  # only 'few values' columns need telling apart
            return
        self.extra.update(np.unique(x[~np.isin(x, self.edges)])[: EXTRA_DISTINCT + 1].tolist())
        if len(self.extra) > EXTRA_DISTINCT:
            self.extra = None

    def values(self) -> np.ndarray | None:
        """The window's finite values, when it had at most RAW_LIMIT of them."""
        if self.raw is None:
            return None
        return np.sort(np.concatenate(self.raw)) if self.raw else np.array([], dtype=float)

    def union_distinct(self) -> int:
        """Distinct values of the reference sample and the window together (exact up to 5 + EXTRA_DISTINCT)."""
        if len(self.edges) > 5:
            return len(self.edges)
        return len(self.edges) + (len(self.extra) if self.extra is not None else EXTRA_DISTINCT + 1)

    def _steps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per inner bin k (1..K-1): width, F_cur at r_k, F_cur just below r_(k+1), integral of F_cur."""
        n = self.finite
        below = np.cumsum(self.counts)[:-1]  # values below r_k, k = 1..K (N_<k)
        width = np.diff(self.edges)
        inner = self.counts[1:-1]
        before = below[:-1]
        at_start = (before + self.ties[:-1]) / n
        at_end = (before + inner) / n
        integral = (before * width + inner * width - self.offsets[1:-1]) / n
        return width, at_start, at_end, integral

    def wasserstein(self) -> tuple[float, float]:
        """W1(reference sample, window) and a bound on its error (0 unless the CDFs cross inside a bin)."""
        n = self.finite
        width, a, b, integral = self._steps()
        level = self.ref_cdf[:-1]
        above = level >= b  # the reference's CDF above the window's over the whole bin
        below = level <= a
        cross = ~(above | below)
        contrib = np.where(above, level * width - integral, integral - level * width)
        spread = np.where(cross, b - a, 1.0)
        linear = width * ((level - a) ** 2 + (b - level) ** 2) / (2 * spread)  # evenly spread points
        contrib = np.where(cross, linear, contrib)
        tails = (self.offsets[0] + self.offsets[-1]) / n
        return float(contrib.sum() + tails), float((width * (b - a))[cross].sum())

    def ks_statistic(self) -> float:
        """sup |F_ref - F_cur|: exact, since F_ref is constant on each bin and F_cur monotone."""
        n = self.finite
        _, a, b, _ = self._steps()
        level = self.ref_cdf[:-1]
        inner = max(np.abs(level - a).max(initial=0.0), np.abs(level - b).max(initial=0.0))
        first = self.counts[0] / n  # below r_1 the reference's CDF is 0
        last = 1 - (self.finite - self.counts[-1] + self.ties[-1]) / n  # from r_K on it is 1
        return float(max(inner, first, last))

    def cdf_at(self, points: np.ndarray) -> np.ndarray:
        """F_cur at arbitrary points: exact at the edges, linear inside a bin (for binned Jensen-Shannon)."""
        n = self.finite
        k = np.searchsorted(self.edges, points, side="right")  # bin of each point
        below = np.concatenate([[0], np.cumsum(self.counts)])[k]  # values in bins before k
        out = below.astype(float)
        inner = (k >= 1) & (k < len(self.edges))
        kk = k[inner]
        start, stop = self.edges[kk - 1], self.edges[kk]
        share = np.clip((points[inner] - start) / (stop - start), 0, 1)
        interior = self.counts[kk] - self.ties[kk - 1]
        out[inner] += self.ties[kk - 1] + share * interior
        first, last = k == 0, k == len(self.edges)
        if first.any() and self.minimum < self.edges[0]:
            span = self.edges[0] - self.minimum
            out[first] = self.counts[0] * np.clip((points[first] - self.minimum) / span, 0, 1)
        if last.any():
            span = max(self.maximum - self.edges[-1], 0.0)
            tail = self.counts[-1] - self.ties[-1]
            frac = np.ones(int(last.sum())) if span == 0 else np.clip((points[last] - self.edges[-1]) / span, 0, 1)
            out[last] = below[last] + self.ties[-1] + frac * tail
        return out / n

    def counts_at_edges(self) -> tuple[dict[str, int], int]:
        """Counts of the window's values at each reference value, and of values elsewhere."""
        at = {repr(float(e)): int(t) for e, t in zip(self.edges, self.ties, strict=True) if t}
        return at, self.finite - int(self.ties.sum())


def _exact_sum(values: np.ndarray) -> int:
    """The exact sum of non-negative finite floats as an integer of 2^-_TAIL_SCALE: each float is its 53-bit
    mantissa times a power of two, summed per exponent as integers (in two 26/27-bit halves, whose float sums
    stay exact below 2^53)."""
    if values.size == 0:
        return 0
    mantissa, exponent = np.frexp(values)
    whole = np.ldexp(mantissa, 53).astype(np.int64)
    exponents, group = np.unique(exponent, return_inverse=True)
    high = np.bincount(group, weights=(whole >> 26).astype(float))
    low = np.bincount(group, weights=(whole & ((1 << 26) - 1)).astype(float))
    return sum(
        ((int(h) << 26) + int(lo)) << (int(e) - 53 + _TAIL_SCALE) for e, h, lo in zip(exponents, high, low, strict=True)
    )


@dataclass
class CategoricalSketch:
    """One categorical column of a window: category counts (as text) and nulls."""

    rows: int = 0
    nulls: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def finite(self) -> int:
        return self.rows - self.nulls

    def add(self, values: pd.Series) -> None:
        text = as_category_text(pd.Series(values))
        self.rows += len(text)
        self.nulls += int(text.isna().sum())
        for key, count in text.value_counts().items():
            self.counts[str(key)] = self.counts.get(str(key), 0) + int(count)

    def empty(self) -> CategoricalSketch:
        return CategoricalSketch()

    def merge(self, other: Sketch) -> None:
        """Add another sketch of the same column."""
        if not isinstance(other, CategoricalSketch):
            raise ValueError("cannot merge a numeric sketch into a categorical one")
        self.rows += other.rows
        self.nulls += other.nulls
        for key, count in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count

    def detached(self) -> CategoricalSketch:
        return self


Sketch = NumericSketch | CategoricalSketch


def new_sketch(ref: NumericProfile | CategoricalProfile, grid: int = GRID) -> Sketch:
    return NumericSketch.for_profile(ref, grid) if isinstance(ref, NumericProfile) else CategoricalSketch()


def sketch_frame(frame: pd.DataFrame, profile: ReferenceProfile, columns: list[str]) -> dict[str, Sketch]:
    """Sketches of ``columns`` of one frame (a whole window that fits in memory, or a test's batch)."""
    out: dict[str, Sketch] = {}
    for col in columns:
        ref = profile.numeric.get(col) or profile.categorical.get(col)
        if ref is None:
            raise ValueError(f"the reference profile has no column {col!r}")
        out[col] = new_sketch(ref)
        out[col].add(frame[col])
    return out
