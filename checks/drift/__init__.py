"""Per-column drift against a reference profile, and the dataset-level rule.

Definitions follow Evidently 0.7 (tested against its values): normed Wasserstein = W1(ref, cur) / std(ref)
with the population std floored at 0.001; Jensen-Shannon distance (natural log) over category shares.
From ``large_sample`` rows on, effect sizes decide (at a million rows any p-value is tiny); below it,
KS and chi-square p-values with Holm's correction across the columns so tested. Below ``min_rows`` a
column is "not evaluated", never "drifted".

Each method is one module of ``methods/`` with its registration (``methods/base.py``); ``rules.py`` holds
what no method decides alone (``auto``, ``min_rows``, noise floors, Holm, the dataset share).
"""

from driftwarden.checks.drift.methods import (
    ColumnKind,
    Measurement,
    Method,
    get_method,
    method_keys,
    register_method,
    registered_methods,
)
from driftwarden.checks.drift.methods.jensenshannon import jensenshannon_counts, js_noise_floor
from driftwarden.checks.drift.methods.wasserstein import wasserstein_norm
from driftwarden.checks.drift.results import ColumnDrift, DriftResult, Role
from driftwarden.checks.drift.rules import AUTO_LARGE, AUTO_SMALL, auto_method, decide_drift, detect_drift

__all__ = [
    "AUTO_LARGE",
    "AUTO_SMALL",
    "ColumnDrift",
    "ColumnKind",
    "DriftResult",
    "Measurement",
    "Method",
    "Role",
    "auto_method",
    "decide_drift",
    "detect_drift",
    "get_method",
    "jensenshannon_counts",
    "js_noise_floor",
    "method_keys",
    "register_method",
    "registered_methods",
    "wasserstein_norm",
]
