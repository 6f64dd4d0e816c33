"""Chi-square test of independence on category counts.

Name: ``chisquare`` (Evidently 0.7: ``chisquare``, "chi-square p_value")

Measures: the p-value of the chi-square test on the 2 x k table of the reference's and the window's counts
(categories absent from both dropped; fewer than two left: 1.0). A test: its p-value is Holm-corrected across
the columns so tested and held to ``drift.p_value``. Categorical columns, and numeric ones read as counts of
their values.

``auto`` picks it: categorical columns, and numeric ones with at most 5 distinct values, below
``drift.large_sample`` rows.

Example (``config/<model>.yaml``)::

    drift:
      methods:
        region: chisquare
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from driftwarden.checks.drift.methods.base import Measurement, Method, register_method
from driftwarden.checks.drift.methods.counts import value_counts, window_counts
from driftwarden.checks.profile import CategoricalProfile, NumericProfile
from driftwarden.checks.sketch import CategoricalSketch, NumericSketch


def chisquare_counts(ref_counts: dict[str, int], cur_counts: dict[str, int]) -> float:
    keys = sorted(set(ref_counts) | set(cur_counts))
    table = np.array([[ref_counts.get(k, 0) for k in keys], [cur_counts.get(k, 0) for k in keys]])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table).pvalue)


@register_method("chisquare")
class ChiSquare(Method):
    yields = "p_value"
    applies_to = frozenset({"numeric", "categorical"})
    evidently_name = "chisquare"

    def numeric(self, ref: NumericProfile, cur: NumericSketch) -> Measurement:
        return Measurement(chisquare_counts(value_counts(ref.values()), window_counts(cur)))

    def categorical(self, ref: CategoricalProfile, cur: CategoricalSketch) -> Measurement:
        return Measurement(chisquare_counts(ref.counts, cur.counts))
