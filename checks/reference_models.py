"""What is fitted on the reference's rows, beyond its profile: the KPI estimator and the multivariate drift PCA.

Both are fitted on the same seeded sample of the reference's rows (at most ``MAX_FIT_ROWS``), once per reference
version in a process; after a promotion the reference is the new champion's holdout, and both are fitted on it
(a holdout too small for them says so, in every window's estimates, instead of the estimates vanishing).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from driftwarden.checks.drift.multivariate import PcaFit, fit_pca
from driftwarden.checks.estimation import Fitted, NotEstimable, fit_estimator
from driftwarden.config.model import ModelConfig


@dataclass(frozen=True)
class ReferenceModels:
    estimator: Fitted | NotEstimable | None = None
    """None: estimation is off, or no configured KPI has an estimator."""
    pca: PcaFit | str | None = None
    """A reason (text) when it could not be fitted; None: multivariate drift is off."""
    fitted_on: str = ""
    """What they were fitted on, in words (e.g. 'reference v3: 5,000 rows')."""

    @property
    def usable_estimator(self) -> Fitted | None:
        e = self.estimator
        return None if e is None or isinstance(e, NotEstimable) else e

    @property
    def usable_pca(self) -> PcaFit | None:
        return self.pca if isinstance(self.pca, PcaFit) else None


def fit_reference_models(reference: pd.DataFrame, cfg: ModelConfig, fitted_on: str = "") -> ReferenceModels:
    """Fit what the config asks for on the reference's rows (features, the model's outputs, the label)."""
    estimator = None
    if cfg.estimation.enabled and cfg.kpis:
        estimator = fit_estimator(reference, cfg)
        if isinstance(estimator, NotEstimable) and fitted_on:
            estimator = NotEstimable(estimator.method, estimator.metrics, f"{estimator.reason} ({fitted_on})")
    pca: PcaFit | str | None = None
    if cfg.drift.multivariate:
        cols = cfg.columns
        pca = fit_pca(reference, list(cols.numerical), list(cols.categorical))
    return ReferenceModels(estimator, pca, fitted_on)
