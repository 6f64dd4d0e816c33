"""What drift detection hands back: per column, and for the dataset (frozen, typed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["feature", "prediction", "target"]


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    role: Role
    method: str
    """The key of the registered method that measured it (wasserstein, jensenshannon, ks, chisquare, ...),
    or none (not evaluated)."""
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
