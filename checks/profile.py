"""The reference profile: what drift and validation compare a window against, computed once per version.

A numeric column keeps a sorted sample (exact below ``MAX_SAMPLE`` rows), robust quantiles and its null
share; a categorical column keeps its category counts. The profile round-trips through plain JSON.

``ProfileBuilder`` builds it chunk by chunk, so a reference of any size is read once in bounded memory:
counts, means and variances merge exactly; the samples are the rows with the smallest seeded random keys
(a uniform sample without replacement, the same whatever the chunking), the quantiles are exact up to
``QUANTILE_SAMPLE`` rows and taken on a uniform sample of that size beyond.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MAX_SAMPLE = 20_000
QUANTILE_SAMPLE = 200_000


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
class ReferenceProfile:
    rows: int
    numeric: dict[str, NumericProfile]
    categorical: dict[str, CategoricalProfile]

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "numeric": {k: {**asdict(v), "sample": v.sample.tolist()} for k, v in self.numeric.items()},
            "categorical": {k: asdict(v) for k, v in self.categorical.items()},
        }

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
        return ReferenceProfile(
            self.rows,
            {k: v for k, v in self.numeric.items() if k not in columns},
            {k: v for k, v in self.categorical.items() if k not in columns},
        )

    def merged(self, other: ReferenceProfile) -> ReferenceProfile:
        """This profile with ``other``'s columns added (profiles of the same reference rows)."""
        return ReferenceProfile(self.rows, {**self.numeric, **other.numeric}, {**self.categorical, **other.categorical})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReferenceProfile:
        return cls(
            rows=int(data["rows"]),
            numeric={
                k: NumericProfile(**{**v, "sample": np.asarray(v["sample"], dtype=float)})
                for k, v in data["numeric"].items()
            },
            categorical={k: CategoricalProfile(**v) for k, v in data["categorical"].items()},
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
        self.values, self.keys = _smallest_keys(np.concatenate([self.values, x]), np.concatenate([self.keys, keys]))

    def finish(self, name: str) -> NumericProfile:
        if self.finite == 0:
            raise ValueError(f"reference column {name!r} has no numeric values")
        q = np.quantile(self.values, [0.001, 0.25, 0.75, 0.999])
        sample = self.values[np.argsort(self.keys, kind="stable")[:MAX_SAMPLE]]
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
    """The reference profile, built one chunk at a time (a chunk is a DataFrame with the listed columns)."""

    def __init__(self, numerical: list[str], categorical: list[str], seed: int = 0):
        self._numeric = {c: _NumericAccumulator() for c in numerical}
        self._counts: dict[str, dict[str, int]] = {c: {} for c in categorical}
        self._nulls = dict.fromkeys(categorical, 0)
        self._rows = 0
        self._rng = np.random.default_rng(seed)

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
            for key, n in text.value_counts().items():
                counts[str(key)] = counts.get(str(key), 0) + int(n)

    def finish(self) -> ReferenceProfile:
        categorical = {
            col: CategoricalProfile(
                count=sum(counts.values()),
                null_share=self._nulls[col] / self._rows if self._rows else 0.0,
                counts=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            )
            for col, counts in self._counts.items()
        }
        numeric = {col: acc.finish(col) for col, acc in self._numeric.items()}
        return ReferenceProfile(rows=self._rows, numeric=numeric, categorical=categorical)


def build_profile(frame: pd.DataFrame, numerical: list[str], categorical: list[str], seed: int = 0) -> ReferenceProfile:
    """Profile the reference frame's columns (features, prediction, target as the caller lists them)."""
    builder = ProfileBuilder(numerical, categorical, seed)
    builder.add(frame)
    return builder.finish()
