"""The reference profile: what drift and validation compare a window against, computed once per version.

A numeric column keeps a sorted sample (exact below ``max_sample`` rows), robust quantiles and its null
share; a categorical column keeps its category counts. The profile round-trips through plain JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MAX_SAMPLE = 20_000


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


def profile_numeric(values: pd.Series, seed: int = 0) -> NumericProfile:
    n = len(values)
    clean = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    clean = clean[np.isfinite(clean)]  # NaN and +-inf are not values (Evidently drops them too)
    if clean.size == 0:
        raise ValueError(f"reference column {values.name!r} has no numeric values")
    q = np.quantile(clean, [0.001, 0.25, 0.75, 0.999])
    sample = clean
    if clean.size > MAX_SAMPLE:
        sample = np.random.default_rng(seed).choice(clean, MAX_SAMPLE, replace=False)
    return NumericProfile(
        count=int(clean.size),
        null_share=float(1 - clean.size / n) if n else 0.0,
        mean=float(clean.mean()),
        std=float(clean.std()),
        q001=float(q[0]),
        q25=float(q[1]),
        q75=float(q[2]),
        q999=float(q[3]),
        sample=np.sort(sample),
    )


def profile_categorical(values: pd.Series) -> CategoricalProfile:
    text = as_category_text(values)
    counts = text.dropna().value_counts()
    n = len(values)
    return CategoricalProfile(
        count=int(counts.sum()),
        null_share=float(text.isna().mean()) if n else 0.0,
        counts={str(k): int(v) for k, v in counts.items()},
    )


def build_profile(frame: pd.DataFrame, numerical: list[str], categorical: list[str], seed: int = 0) -> ReferenceProfile:
    """Profile the reference frame's columns (features, prediction, target as the caller lists them)."""
    missing = [c for c in [*numerical, *categorical] if c not in frame.columns]
    if missing:
        raise ValueError(f"reference data lacks columns {missing}")
    return ReferenceProfile(
        rows=len(frame),
        numeric={c: profile_numeric(frame[c], seed) for c in numerical},
        categorical={c: profile_categorical(frame[c]) for c in categorical},
    )
