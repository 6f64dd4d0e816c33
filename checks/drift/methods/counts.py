"""Counts as chi-square and Jensen-Shannon compare them: two samples' counts side by side, and a numeric column
read as counts of its values."""

from __future__ import annotations

import numpy as np

from driftwarden.checks.sketch import NumericSketch


def aligned_counts(ref_counts: dict[str, int], cur_counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The two samples' counts of each category either has, in sorted order (0 where one lacks it)."""
    keys = sorted(set(ref_counts) | set(cur_counts))
    return np.array([ref_counts.get(k, 0) for k in keys]), np.array([cur_counts.get(k, 0) for k in keys])


def value_counts(values: np.ndarray) -> dict[str, int]:
    uniq, counts = np.unique(values, return_counts=True)
    return {repr(float(u)): int(c) for u, c in zip(uniq, counts, strict=True)}


def counts_from_bins(sketch: NumericSketch) -> dict[str, int]:
    """The window's value counts at the reference's values, the rest as one 'other' value: exact for
    Jensen-Shannon (every value the reference lacks weighs the same, together or apart)."""
    at, elsewhere = sketch.counts_at_edges()
    return {**at, "other": elsewhere} if elsewhere else at


def window_counts(sketch: NumericSketch) -> dict[str, int]:
    """The window's value counts: from its raw values when it kept them, else from its bins."""
    raw = sketch.values()
    return value_counts(raw) if raw is not None else counts_from_bins(sketch)
