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
    bound: float | None = None
    """An upper bound of its true drift distance at these rows (``rules.drift_bound``); None: not evaluated."""
    bound_threshold: float | None = None
    """The distance threshold the bound is held to."""

    @property
    def ruled_out(self) -> bool:
        """A drift at the threshold would have been seen: the bound stays below the threshold."""
        return (
            self.drifted is False
            and self.bound is not None
            and self.bound_threshold is not None
            and self.bound < self.bound_threshold
        )


@dataclass(frozen=True)
class SegmentCell:
    """One feature's drift in the rows of one segment value, against the reference's rows of that value."""

    segment: str
    """``column=value``."""
    column: str
    method: str
    """As ``ColumnDrift.method`` (none: not evaluated)."""
    value: float | None
    threshold: float | None
    """Distance threshold (raised to its noise floor), or the Holm level across every segment value x feature."""
    drifted: bool | None
    rows: int
    """Rows of the segment value in the window."""
    reference_rows: int
    note: str = ""


@dataclass(frozen=True)
class SegmentLeftOut:
    """A segment column's values in the window that were not evaluated (not among the reference's most
    frequent), and their rows."""

    column: str
    values: int
    rows: int
    cap: int


@dataclass(frozen=True)
class SegmentDrift:
    """Drift per segment value: informational, it never changes a window's verdict."""

    cells: tuple[SegmentCell, ...]
    left_out: tuple[SegmentLeftOut, ...] = ()
    note: str = ""

    @property
    def drifted(self) -> dict[str, list[str]]:
        """Segment -> its drifted features (strongest first), the segments with most drifted features first."""
        out: dict[str, list[tuple[float, str]]] = {}
        for c in self.cells:
            if c.drifted:
                out.setdefault(c.segment, []).append((_strength(c), c.column))
        ranked = sorted(out.items(), key=lambda kv: (-len(kv[1]), -max(s for s, _ in kv[1]), kv[0]))
        return {seg: [name for _, name in sorted(items, key=lambda x: -x[0])] for seg, items in ranked}


def _strength(c: SegmentCell) -> float:
    if c.value is None or not c.threshold:
        return 0.0
    if c.method in ("ks", "chisquare"):  # p-values: smaller is stronger
        return c.threshold / max(c.value, 1e-300)
    return c.value / c.threshold


@dataclass(frozen=True)
class DriftResult:
    columns: tuple[ColumnDrift, ...]
    share: float | None
    """(Weighted) share of evaluated features that drifted; None when none was evaluated."""
    dataset_share: float
    """The configured share at which the dataset counts as drifted."""
    dataset_drifted: bool | None
    note: str
    segments: SegmentDrift | None = None
    """Drift per segment value (None: no segments declared); no part of ``share`` or ``dataset_drifted``."""

    @property
    def features(self) -> tuple[ColumnDrift, ...]:
        return tuple(c for c in self.columns if c.role == "feature")

    @property
    def drifted_features(self) -> list[str]:
        return [c.column for c in self.features if c.drifted]

    @property
    def ruled_out(self) -> bool:
        """Every feature was evaluated and a drift at the threshold is ruled out in each (what a concept
        change needs: the inputs were looked at, and they look normal)."""
        return bool(self.features) and all(c.ruled_out for c in self.features)

    @property
    def not_ruled_out(self) -> list[ColumnDrift]:
        """The features that did not drift but whose drift cannot be ruled out (too few rows, or unevaluated)."""
        return [c for c in self.features if not c.drifted and not c.ruled_out]

    def get(self, column: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == column:
                return c
        raise KeyError(column)
