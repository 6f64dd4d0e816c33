"""The reference profile: what drift and validation compare a window against, computed once per version.

A numeric column keeps a sorted sample (exact below ``MAX_SAMPLE`` rows), robust quantiles and its null
share; a categorical column keeps its category counts. The profile round-trips through plain JSON.

``ProfileBuilder`` builds it chunk by chunk, so a reference of any size is read once in bounded memory:
counts, means and variances merge exactly; the samples are the rows with the smallest seeded random keys
(a uniform sample without replacement, the same whatever the chunking), the quantiles are exact up to
``QUANTILE_SAMPLE`` rows and taken on a uniform sample of that size beyond.

With segment columns, the builder also profiles the features of each segment value's rows (``segments``),
for drift per segment: the ``segment_values`` most frequent values of each column, each with a smaller
sample (``SEGMENT_SAMPLE``), so that the profile stays bounded whatever the column's cardinality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MAX_SAMPLE = 20_000
QUANTILE_SAMPLE = 200_000
SEGMENT_SAMPLE = 2_000
"""Sample points kept per feature of a segment value (20 values x 20 features stay below a million numbers)."""
SEGMENT_TRACKED = 200
"""Distinct values of a segment column profiled while the reference is read; a value first seen after these is
counted only (the profile keeps the most frequent ``segment_values`` of those tracked)."""
SEGMENT_PROFILE_VERSION = 1
"""Part of the reference's fingerprint for a model with segments: a profile stored before per-segment profiles
existed has another fingerprint, so it is rebuilt rather than read without them."""


@dataclass(frozen=True)
class NumericProfile:
    count: int
    """Non-null rows."""
    null_share: float
    mean: float
    std: float
    """Population standard deviation (ddof=0), Evidently's norm for the Wasserstein distance."""
    q001: float
    q25: float
    q75: float
    q999: float
    sample: np.ndarray = field(repr=False, compare=False)
    """Sorted values (all of them below MAX_SAMPLE rows, else a seeded random sample). An array, not a
    tuple: Prefect walks tuples in task arguments element by element (seconds for 20 columns)."""

    def values(self) -> np.ndarray:
        return self.sample


@dataclass(frozen=True)
class CategoricalProfile:
    count: int
    null_share: float
    counts: dict[str, int]
    """Category (as text) -> rows."""


@dataclass(frozen=True)
class SegmentProfiles:
    """The features of one segment column's most frequent values, each profiled on its own rows."""

    values: dict[str, ReferenceProfile]
    """Value (as text) -> the profile of its rows' features, most frequent first."""
    left_out: int = 0
    """Distinct values of the column not profiled (beyond the cap, or first seen after ``SEGMENT_TRACKED``)."""
    left_out_rows: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "values": {k: v.to_json() for k, v in self.values.items()},
            "left_out": self.left_out,
            "left_out_rows": self.left_out_rows,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentProfiles:
        values = {k: ReferenceProfile.from_json(v) for k, v in data["values"].items()}
        return cls(values, int(data.get("left_out", 0)), int(data.get("left_out_rows", 0)))


@dataclass(frozen=True)
class ReferenceProfile:
    rows: int
    numeric: dict[str, NumericProfile]
    categorical: dict[str, CategoricalProfile]
    segments: dict[str, SegmentProfiles] = field(default_factory=dict)
    """Segment column -> its values' profiles (empty: no segments declared, or a profile stored before them)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": self.rows,
            "numeric": {k: {**asdict(v), "sample": v.sample.tolist()} for k, v in self.numeric.items()},
            "categorical": {k: asdict(v) for k, v in self.categorical.items()},
        }
        if self.segments:  # a model without segments stores what it stored before
            out["segments"] = {k: v.to_json() for k, v in self.segments.items()}
        return out

    def draw(self, columns: list[str], n: int, seed: int = 1) -> pd.DataFrame:
        """A seeded frame of at most ``n`` reference rows for a report: each numeric column a random pick of
        its stored sample, each categorical one drawn from its counts (nulls in their share). Every column
        has the reference's distribution; across columns the rows are not the reference's own rows, which a
        per-column drift report does not look at."""
        rng = np.random.default_rng(seed)
        sizes = [len(self.numeric[c].sample) for c in columns if c in self.numeric]
        size = min([n, self.rows, *sizes])
        out: dict[str, Any] = {}
        for col in columns:
            if col in self.numeric:
                p = self.numeric[col]
                values = rng.choice(p.sample, size, replace=False).astype(float)
                values[rng.random(size) < p.null_share] = np.nan
                out[col] = values
            else:
                c = self.categorical[col]
                keys = list(c.counts)
                weights = np.array([c.counts[k] for k in keys], dtype=float)
                drawn = rng.choice(np.array(keys, dtype=object), size, p=weights / weights.sum())
                drawn[rng.random(size) < c.null_share] = None
                out[col] = drawn
        return pd.DataFrame(out)

    def without(self, columns: set[str]) -> ReferenceProfile:
        """The profile less ``columns`` (masked or excluded ones: their values never reach the store)."""
        segments = {
            col: SegmentProfiles(
                {v: p.without(columns) for v, p in seg.values.items()}, seg.left_out, seg.left_out_rows
            )
            for col, seg in self.segments.items()
            if col not in columns
        }
        return ReferenceProfile(
            self.rows,
            {k: v for k, v in self.numeric.items() if k not in columns},
            {k: v for k, v in self.categorical.items() if k not in columns},
            segments,
        )

    def merged(self, other: ReferenceProfile) -> ReferenceProfile:
        """This profile with ``other``'s columns added (profiles of the same reference rows)."""
        return ReferenceProfile(
            self.rows,
            {**self.numeric, **other.numeric},
            {**self.categorical, **other.categorical},
            {**self.segments, **other.segments},
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReferenceProfile:
        return cls(
            rows=int(data["rows"]),
            numeric={
                k: NumericProfile(**{**v, "sample": np.asarray(v["sample"], dtype=float)})
                for k, v in data["numeric"].items()
            },
            categorical={k: CategoricalProfile(**v) for k, v in data["categorical"].items()},
            segments={k: SegmentProfiles.from_json(v) for k, v in (data.get("segments") or {}).items()},
        )


def as_category_text(series: pd.Series) -> pd.Series:
    """Categories and class labels compared as text, so that 3, 3.0, '3' and '3.0' from different readers
    agree (and True/False read as 1/0)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)  # text once per distinct value, not per row
    texts = np.array([category_text(u) for u in uniques] + [None], dtype=object)
    return pd.Series(texts[codes], index=series.index, name=series.name, dtype=object)


def category_text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value)
    return text[:-2] if text.endswith(".0") and text[:-2].lstrip("-").isdigit() else text


@dataclass
class _NumericAccumulator:
    rows: int = 0
    finite: int = 0
    mean: float = 0.0
    m2: float = 0.0
    """Sum of squared deviations from the mean (merged with Chan's formula)."""
    values: np.ndarray = field(default_factory=lambda: np.empty(0))
    keys: np.ndarray = field(default_factory=lambda: np.empty(0))
    keep: int = QUANTILE_SAMPLE
    """Values kept for the quantiles."""
    sample_size: int = MAX_SAMPLE

    def add(self, values: pd.Series, keys: np.ndarray) -> None:
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        self.rows += len(x)
        finite = np.isfinite(x)  # NaN and +-inf are not values (Evidently drops them too)
        x, keys = x[finite], keys[finite]
        if x.size == 0:
            return
        n, mean, m2 = x.size, float(x.mean()), float(((x - x.mean()) ** 2).sum())
        delta, total = mean - self.mean, self.finite + n
        self.m2 += m2 + delta * delta * self.finite * n / total
        self.mean += delta * n / total
        self.finite = total
        self.values, self.keys = _smallest_keys(
            np.concatenate([self.values, x]), np.concatenate([self.keys, keys]), self.keep
        )

    def finish(self, name: str) -> NumericProfile:
        if self.finite == 0:
            raise ValueError(f"reference column {name!r} has no numeric values")
        q = np.quantile(self.values, [0.001, 0.25, 0.75, 0.999])
        sample = self.values[np.argsort(self.keys, kind="stable")[: self.sample_size]]
        return NumericProfile(
            count=self.finite,
            null_share=float(1 - self.finite / self.rows) if self.rows else 0.0,
            mean=self.mean,
            std=float(np.sqrt(self.m2 / self.finite)),
            q001=float(q[0]),
            q25=float(q[1]),
            q75=float(q[2]),
            q999=float(q[3]),
            sample=np.sort(sample),
        )


def _smallest_keys(values: np.ndarray, keys: np.ndarray, k: int = QUANTILE_SAMPLE) -> tuple[np.ndarray, np.ndarray]:
    if len(keys) <= k:
        return values, keys
    keep = np.argpartition(keys, k)[:k]
    return values[keep], keys[keep]


class ProfileBuilder:
    """The reference profile, built one chunk at a time (a chunk is a DataFrame with the listed columns).

    ``segments``: columns whose values get profiles of their own rows' ``segment_features`` (the
    ``segment_values`` most frequent of each column)."""

    def __init__(
        self,
        numerical: list[str],
        categorical: list[str],
        seed: int = 0,
        segments: Sequence[str] = (),
        segment_features: Sequence[str] = (),
        segment_values: int = 20,
    ):
        self._numeric = {c: _NumericAccumulator() for c in numerical}
        self._counts: dict[str, dict[str, int]] = {c: {} for c in categorical}
        self._nulls = dict.fromkeys(categorical, 0)
        self._rows = 0
        self._rng = np.random.default_rng(seed)
        wanted = set(segment_features)
        self._seg_numeric = [c for c in numerical if c in wanted]
        self._seg_categorical = [c for c in categorical if c in wanted]
        self._segments = {c: _SegmentColumn() for c in segments}
        self._segment_values = segment_values

    def add(self, chunk: pd.DataFrame) -> None:
        missing = [c for c in [*self._numeric, *self._counts] if c not in chunk.columns]
        if missing:
            raise ValueError(f"reference data lacks columns {missing}")
        keys = self._rng.random(len(chunk))
        self._rows += len(chunk)
        for col, acc in self._numeric.items():
            acc.add(chunk[col], keys)
        for col, counts in self._counts.items():
            text = as_category_text(chunk[col])
            self._nulls[col] += int(text.isna().sum())
            _count_into(counts, text)
        for col, seg in self._segments.items():  # the column itself is one category within each of its values
            if col not in chunk.columns:  # a reference without it: no value profiled, drift per segment says so
                continue
            numeric = [c for c in self._seg_numeric if c != col]
            seg.add(chunk, col, keys, numeric, [c for c in self._seg_categorical if c != col])

    def finish(self) -> ReferenceProfile:
        categorical = {col: _categorical(counts, self._nulls[col], self._rows) for col, counts in self._counts.items()}
        numeric = {col: acc.finish(col) for col, acc in self._numeric.items()}
        segments = {col: seg.finish(self._segment_values) for col, seg in self._segments.items()}
        return ReferenceProfile(rows=self._rows, numeric=numeric, categorical=categorical, segments=segments)


def _count_into(counts: dict[str, int], text: pd.Series) -> None:
    for key, n in text.value_counts().items():
        counts[str(key)] = counts.get(str(key), 0) + int(n)


def _categorical(counts: dict[str, int], nulls: int, rows: int) -> CategoricalProfile:
    return CategoricalProfile(
        count=sum(counts.values()),
        null_share=nulls / rows if rows else 0.0,
        counts=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
    )


@dataclass
class _SegmentValue:
    rows: int = 0
    numeric: dict[str, _NumericAccumulator] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    nulls: dict[str, int] = field(default_factory=dict)


@dataclass
class _SegmentColumn:
    """One segment column's values while the reference is read: every value counted, the first
    ``SEGMENT_TRACKED`` profiled."""

    counts: dict[str, int] = field(default_factory=dict)
    tracked: dict[str, _SegmentValue] = field(default_factory=dict)

    def add(self, chunk: pd.DataFrame, col: str, keys: np.ndarray, numeric: list[str], categorical: list[str]) -> None:
        codes, uniques = pd.factorize(chunk[col], use_na_sentinel=True)
        if not len(uniques):
            return
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes[codes >= 0], minlength=len(uniques))
        starts = np.concatenate([[0], np.cumsum(sizes)]) + int((codes < 0).sum())  # nulls sort first
        for i, raw in enumerate(uniques):
            value = category_text(raw)
            self.counts[value] = self.counts.get(value, 0) + int(sizes[i])
            state = self.tracked.get(value)
            if state is None:
                if len(self.tracked) >= SEGMENT_TRACKED:
                    continue
                state = self.tracked[value] = _SegmentValue(
                    numeric={c: _NumericAccumulator(keep=SEGMENT_SAMPLE, sample_size=SEGMENT_SAMPLE) for c in numeric},
                    counts={c: {} for c in categorical},
                    nulls=dict.fromkeys(categorical, 0),
                )
            idx = order[starts[i] : starts[i + 1]]
            state.rows += len(idx)
            for c, acc in state.numeric.items():
                acc.add(chunk[c].iloc[idx], keys[idx])
            for c, counts in state.counts.items():
                text = as_category_text(chunk[c].iloc[idx])
                state.nulls[c] += int(text.isna().sum())
                _count_into(counts, text)

    def finish(self, cap: int) -> SegmentProfiles:
        ranked = sorted(self.tracked, key=lambda v: (-self.counts[v], v))[:cap]
        values = {}
        for v in ranked:
            state = self.tracked[v]
            numeric = {c: acc.finish(c) for c, acc in state.numeric.items() if acc.finite}
            categorical = {c: _categorical(n, state.nulls[c], state.rows) for c, n in state.counts.items()}
            values[v] = ReferenceProfile(state.rows, numeric, categorical)
        left = [v for v in self.counts if v not in values]
        return SegmentProfiles(values, len(left), sum(self.counts[v] for v in left))


def build_profile(
    frame: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    seed: int = 0,
    segments: Sequence[str] = (),
    segment_features: Sequence[str] = (),
    segment_values: int = 20,
) -> ReferenceProfile:
    """Profile the reference frame's columns (features, prediction, target as the caller lists them)."""
    builder = ProfileBuilder(numerical, categorical, seed, segments, segment_features, segment_values)
    builder.add(frame)
    return builder.finish()
