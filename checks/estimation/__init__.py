"""Performance estimated before the labels arrive: CBPE for classifiers with probabilities, DLE for regression
(``base.py`` says what an estimator is and how its bands are had)."""

from driftwarden.checks.estimation import cbpe, dle  # each registers itself
from driftwarden.checks.estimation.base import (
    MIN_REFERENCE_ROWS,
    MIN_WINDOW_ROWS,
    Estimate,
    Fitted,
    NotEstimable,
    Tally,
    estimated_metrics,
    estimates,
    fit_estimator,
    registered_estimators,
)

__all__ = [
    "MIN_REFERENCE_ROWS",
    "MIN_WINDOW_ROWS",
    "Estimate",
    "Fitted",
    "NotEstimable",
    "Tally",
    "cbpe",
    "dle",
    "estimated_metrics",
    "estimates",
    "fit_estimator",
    "registered_estimators",
]
