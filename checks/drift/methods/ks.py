"""Two-sample Kolmogorov-Smirnov test.

Name: ``ks`` (Evidently 0.7: ``ks``, "K-S p_value")

Measures: the p-value of the largest gap between the reference's and the window's CDFs. A test: its p-value
is Holm-corrected across the columns so tested and held to ``drift.p_value``. Numeric columns only. On the
window's raw values when it kept them (scipy, exact up to 10,000 rows), else asymptotic in the statistic,
which the bins give exactly.

``auto`` picks it: numeric columns with more than 5 distinct values, below ``drift.large_sample`` rows.

Example (``config/<model>.yaml``)::

    drift:
      methods:
        income: ks
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from driftwarden.checks.drift.methods.base import Measurement, Method, register_method
from driftwarden.checks.profile import NumericProfile
from driftwarden.checks.sketch import NumericSketch


@register_method("ks")
class KolmogorovSmirnov(Method):
    yields = "p_value"
    applies_to = frozenset({"numeric"})
    evidently_name = "ks"

    def numeric(self, ref: NumericProfile, cur: NumericSketch) -> Measurement:
        ref_values = ref.values()
        raw = cur.values()
        if raw is not None:
            return Measurement(float(stats.ks_2samp(ref_values, raw).pvalue))
        m, n = sorted([float(len(ref_values)), float(cur.finite)], reverse=True)  # scipy's asymptotic mode, as it would
        return Measurement(float(stats.kstwo.sf(cur.ks_statistic(), np.round(m * n / (m + n)))))
