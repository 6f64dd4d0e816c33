"""Stress tests: the holdout perturbed in controlled ways (``base.py`` what a perturbation is and their registry,
one module per perturbation), every KPI measured per perturbation and strength (``suite.py``)."""

from driftwarden.checks.stress import category_swap, missing, noise, scale, shift, unseen_category  # noqa: F401  (registration)
from driftwarden.checks.stress.base import (
    Columns,
    Perturbation,
    get_perturbation,
    perturbation_keys,
    register_perturbation,
)
from driftwarden.checks.stress.suite import (
    GateResult,
    StressCell,
    StressResult,
    robustness_table,
    run_suite,
    summary_line,
    worst_cell,
)

__all__ = [
    "Columns",
    "GateResult",
    "Perturbation",
    "StressCell",
    "StressResult",
    "get_perturbation",
    "perturbation_keys",
    "register_perturbation",
    "robustness_table",
    "run_suite",
    "summary_line",
    "worst_cell",
]
