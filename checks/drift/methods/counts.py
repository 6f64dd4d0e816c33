"""A numeric column read as counts of its values: how chi-square and Jensen-Shannon see a column with few values."""

from __future__ import annotations

import numpy as np

from driftwarden.checks.sketch import NumericSketch


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
