"""Normed Wasserstein distance: how far the window's values moved, in standard deviations of the reference
(its population std, floored at 0.001). Categories have no axis to move along. From the window's bins when it
kept no raw values, exact unless the two CDFs cross inside a bin; the error bound is noted then."""

from __future__ import annotations

import numpy as np

from driftwarden.checks.drift.methods.base import Measurement, Method, register_method
from driftwarden.checks.profile import NumericProfile
from driftwarden.checks.sketch import NumericSketch


def wasserstein_norm(ref_sorted: np.ndarray, cur: np.ndarray, ref_std: float) -> float:
    """W1(ref, cur) / max(std(ref), 0.001), as Evidently defines it; ``ref_sorted`` must be sorted.

    The same integral of |F_ref - F_cur| as scipy's, but the current window is sorted once and merged with
    the already-sorted reference sample instead of arg-sorting their concatenation."""
    cur = np.sort(cur)
    grid = np.sort(np.concatenate([ref_sorted, cur]), kind="stable")  # two sorted runs: a merge
    with np.errstate(over="ignore"):  # values near +-1e308: a gap, and so the distance, is inf
        deltas = np.diff(grid)
    f_ref = np.searchsorted(ref_sorted, grid[:-1], side="right") / len(ref_sorted)
    f_cur = np.searchsorted(cur, grid[:-1], side="right") / len(cur)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sum(np.abs(f_ref - f_cur) * deltas) / max(ref_std, 0.001))


@register_method("wasserstein", yields="distance", applies_to=("numeric",))
class Wasserstein(Method):
    def numeric(self, ref: NumericProfile, cur: NumericSketch) -> Measurement:
        raw = cur.values()
        if raw is not None:
            return Measurement(wasserstein_norm(ref.values(), raw, ref.std))
        norm = max(ref.std, 0.001)
        w1, error = cur.wasserstein()
        return Measurement(w1 / norm, f"binned: error <= {error / norm:.2g}" if error > 1e-4 * norm else "")
