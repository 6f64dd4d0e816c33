"""What is fitted on the reference's rows, beyond its profile: the KPI estimator and the multivariate drift PCA.

Both are fitted on the same seeded sample of the reference's rows (at most ``MAX_FIT_ROWS``), once per reference
version in a process; after a promotion the reference is the new champion's holdout, and both are fitted on it
(a holdout too small for them says so, in every window's estimates, instead of the estimates vanishing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from driftwarden.checks.drift.multivariate import PcaFit, fit_pca
from driftwarden.checks.estimation import Fitted, NotEstimable, estimated_metrics, fit_estimator
from driftwarden.checks.estimation.cbpe import CBPE, cell_costs
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

    def to_json(self) -> dict[str, Any] | None:
        """Plain JSON, to be stored with the reference's profile; None where a fit has no JSON form (DLE's loss
        models): those are fitted again in each process."""
        e = self.estimator
        if isinstance(e, CBPE):
            estimator: dict[str, Any] | None = {"cbpe": e.to_json()}
        elif isinstance(e, NotEstimable):
            estimator = {"not_estimable": {"method": e.method, "metrics": list(e.metrics), "reason": e.reason}}
        elif e is None:
            estimator = None
        else:
            return None
        pca = self.pca.to_json() if isinstance(self.pca, PcaFit) else self.pca
        return {"estimator": estimator, "pca": pca, "fitted_on": self.fitted_on}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ReferenceModels:
        raw = d.get("estimator")
        estimator: Fitted | NotEstimable | None = None
        if raw and "cbpe" in raw:
            estimator = CBPE.from_json(raw["cbpe"])
        elif raw and "not_estimable" in raw:
            n = raw["not_estimable"]
            estimator = NotEstimable(n["method"], tuple(n["metrics"]), n["reason"])
        pca = d.get("pca")
        return cls(estimator, PcaFit.from_json(pca) if isinstance(pca, dict) else pca, d.get("fitted_on", ""))

    def fits(self, cfg: ModelConfig) -> bool:
        """Whether these were fitted for what ``cfg`` asks (the KPIs estimated, estimation and multivariate drift
        on or off): a stored fit of another config is fitted again."""
        wanted = estimated_metrics(cfg) if cfg.estimation.enabled and cfg.kpis else ()
        have = tuple(self.estimator.metrics) if self.estimator is not None else ()
        # a fit whose costs are not the config's value (it was changed since) is fitted again
        stale = (
            isinstance(self.estimator, CBPE)
            and "cost" in have
            and self.estimator.costs != cell_costs(cfg, self.estimator.classes)
        )
        return tuple(wanted) == have and (self.pca is not None) == cfg.drift.multivariate and not stale


def fit_reference_models(reference: pd.DataFrame, cfg: ModelConfig, fitted_on: str = "") -> ReferenceModels:
    """Fit what the config asks for on the reference's rows (features, the model's outputs, the label)."""
    estimator: Fitted | NotEstimable | None = None
    if cfg.estimation.enabled and cfg.kpis:
        try:
            estimator = fit_estimator(reference, cfg)
        except (ValueError, KeyError, TypeError) as exc:  # the reference's rows, not the monitoring, are at fault
            metrics = estimated_metrics(cfg)
            estimator = NotEstimable("", metrics, f"the estimator could not be fitted: {type(exc).__name__}: {exc}")
        if isinstance(estimator, NotEstimable) and fitted_on:
            estimator = NotEstimable(estimator.method, estimator.metrics, f"{estimator.reason} ({fitted_on})")
    pca: PcaFit | str | None = None
    if cfg.drift.multivariate:
        cols = cfg.columns
        try:
            pca = fit_pca(reference, list(cols.numerical), list(cols.categorical))
        except (ValueError, KeyError, TypeError) as exc:
            pca = f"the PCA could not be fitted: {type(exc).__name__}: {exc}"
    return ReferenceModels(estimator, pca, fitted_on)
