"""Two-sample Kolmogorov-Smirnov test on the largest gap between the two CDFs: scipy's own on the window's raw
values when it kept them (exact up to 10,000 rows), else its asymptotic p-value of the statistic, which the
window's bins give exactly."""

from __future__ import annotations

import numpy as np
from scipy import stats

from driftwarden.checks.drift.methods.base import Measurement, Method, register_method
from driftwarden.checks.profile import NumericProfile
from driftwarden.checks.sketch import NumericSketch


@register_method("ks", yields="p_value", applies_to=("numeric",))
class KolmogorovSmirnov(Method):
    def numeric(self, ref: NumericProfile, cur: NumericSketch) -> Measurement:
        ref_values = ref.values()
        raw = cur.values()
        if raw is not None:
            return Measurement(float(stats.ks_2samp(ref_values, raw).pvalue))
        m, n = sorted([float(len(ref_values)), float(cur.finite)], reverse=True)  # scipy's asymptotic mode, as it would
        return Measurement(float(stats.kstwo.sf(cur.ks_statistic(), np.round(m * n / (m + n)))))
