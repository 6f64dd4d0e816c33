"""Chi-square test of independence on the 2 x k table of category counts (reference, window). Categories absent
from both are dropped; with fewer than two left there is nothing to test (p = 1). A numeric column counts as
categories, one a value."""

from __future__ import annotations

import numpy as np
from scipy import stats

from driftwarden.checks.drift.methods.base import Measurement, Method, register_method
from driftwarden.checks.drift.methods.counts import aligned_counts, value_counts, window_counts
from driftwarden.checks.profile import CategoricalProfile, NumericProfile
from driftwarden.checks.sketch import CategoricalSketch, NumericSketch


def chisquare_counts(ref_counts: dict[str, int], cur_counts: dict[str, int]) -> float:
    table = np.array(aligned_counts(ref_counts, cur_counts))
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table).pvalue)


@register_method("chisquare", yields="p_value", applies_to=("numeric", "categorical"))
class ChiSquare(Method):
    def numeric(self, ref: NumericProfile, cur: NumericSketch) -> Measurement:
        return Measurement(chisquare_counts(value_counts(ref.values()), window_counts(cur)))

    def categorical(self, ref: CategoricalProfile, cur: CategoricalSketch) -> Measurement:
        return Measurement(chisquare_counts(ref.counts, cur.counts))
