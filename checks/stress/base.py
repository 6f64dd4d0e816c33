"""What a perturbation is, and the registry of them by the key the config names (pure).

A perturbation is a pure function of (the holdout's features, what is known of its columns, a strength, a
seeded numpy Generator) -> a perturbed copy. The champion and the challenger are scored on the same perturbed
copy, so their KPIs under a perturbation compare row for row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Columns:
    """The holdout's columns a perturbation may touch, and what it needs to know of them, from the clean rows.

    Masked, excluded and id columns are never among them."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    spread: Mapping[str, float] = field(default_factory=dict)
    """Numeric column -> its spread on the clean holdout (standard deviation; 1.0 where it is 0 or undefined)."""
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Categorical column -> the categories seen on the clean holdout."""
    important: tuple[str, ...] = ()
    """The most important numeric features, most important first (what ``shift`` moves)."""


def describe_columns(
    frame: pd.DataFrame, numeric: list[str], categorical: list[str], important: tuple[str, ...] = ()
) -> Columns:
    spread = {}
    for col in numeric:
        sd = float(np.nanstd(frame[col].to_numpy(dtype=float))) if frame[col].notna().any() else 0.0
        spread[col] = sd if np.isfinite(sd) and sd > 0 else 1.0
    cats = {col: tuple(sorted(str(v) for v in frame[col].dropna().unique())) for col in categorical}
    return Columns(tuple(numeric), tuple(categorical), MappingProxyType(spread), MappingProxyType(cats), important)


class Perturbation(ABC):
    key: str = ""
    summary: str = ""
    """What it does at strength s, in words (the table's legend)."""

    @abstractmethod
    def apply(self, frame: pd.DataFrame, columns: Columns, strength: float, rng: np.random.Generator) -> pd.DataFrame:
        """A perturbed copy of ``frame`` (never ``frame`` itself changed)."""

    def applies(self, columns: Columns) -> bool:
        """Whether the holdout has columns this perturbation touches."""
        return bool(columns.numeric)


_PERTURBATIONS: dict[str, Perturbation] = {}


def register_perturbation(key: str) -> Callable[[type[Perturbation]], type[Perturbation]]:
    def add(cls: type[Perturbation]) -> type[Perturbation]:
        if key in _PERTURBATIONS:
            raise ValueError(f"perturbation {key!r} is registered twice")
        instance = cls()
        instance.key = key
        _PERTURBATIONS[key] = instance
        return cls

    return add


def get_perturbation(key: str) -> Perturbation:
    try:
        return _PERTURBATIONS[key]
    except KeyError:
        raise ValueError(
            f"unknown perturbation {key!r}; the perturbations are {', '.join(sorted(_PERTURBATIONS))}"
        ) from None


def perturbation_keys() -> list[str]:
    return sorted(_PERTURBATIONS)


def cells(n_rows: int, n_cols: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A (rows, columns) mask of the cells touched: each independently with probability ``strength``."""
    return rng.random((n_rows, n_cols)) < strength
