"""Estimates held against the realized KPIs and their targets: what the verdict reads of them.

On the same labelled rows, a realized KPI worse than its estimate's band says the relationship between inputs and
outcome changed (the model is as confident as ever, and wrong); a realized KPI inside it, with the estimate itself
beyond the target, says the inputs moved to where the model is less accurate. Once the labels are mature, the
estimation error (estimate minus realized) shows how far to trust the estimates of the nights still unlabelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from driftwarden.checks.estimation.base import Estimate, Fitted, NotEstimable, Tally, estimates
from driftwarden.checks.kpis import KpiResult
from driftwarden.config.model import Direction, ModelConfig

Gap = Literal["worse", "within", "better"]


@dataclass(frozen=True)
class EstimateCheck:
    estimate: Estimate
    """Of all the window's rows."""
    target: float
    direction: Direction
    on_labelled: Estimate | None = None
    """Of the labelled rows alone, beside the realized KPI of the same rows."""
    realized: float | None = None
    labelled: int = 0
    mature: bool = False
    kpi_level: str = "pending"

    @property
    def beyond_target(self) -> bool:
        """The estimate's whole band is on the wrong side of the target."""
        return self.band_side(self.estimate) == "beyond"

    def band_side(self, e: Estimate | None) -> Literal["beyond", "meets", "reaches"] | None:
        """Where an estimate's band lies against the target: wholly on its wrong side, wholly on its good side,
        or across it (None: no band)."""
        if e is None or e.lower is None or e.upper is None:
            return None
        low, high = (e.lower, e.upper) if self.direction == "higher_is_better" else (-e.upper, -e.lower)
        target = self.target if self.direction == "higher_is_better" else -self.target
        return "beyond" if high < target else "meets" if low >= target else "reaches"

    @property
    def gap(self) -> Gap | None:
        """Where the realized KPI of the labelled rows lies against their estimate's band (None: no comparison)."""
        e = self.on_labelled
        if e is None or e.lower is None or e.upper is None or self.realized is None:
            return None
        higher = self.direction == "higher_is_better"
        if self.realized < e.lower:
            return "worse" if higher else "better"
        if self.realized > e.upper:
            return "better" if higher else "worse"
        return "within"

    @property
    def error(self) -> float | None:
        """Estimate minus realized, once the labels are mature."""
        if not self.mature or self.estimate.value is None or self.realized is None:
            return None
        return self.estimate.value - self.realized

    def details(self) -> dict[str, Any]:
        e, lab = self.estimate, self.on_labelled
        return {
            "method": e.method,
            "rows": e.rows,
            "reason": e.reason,
            "labelled": self.labelled,
            "labelled_value": lab.value if lab else None,
            "labelled_lower": lab.lower if lab else None,
            "labelled_upper": lab.upper if lab else None,
            "realized": self.realized,
            "gap": self.gap,
            "error": self.error,
            "mature": self.mature,
            "beyond_target": self.beyond_target,
        }


def value_columns(fitted: Fitted | NotEstimable | None, frame: pd.DataFrame) -> list[str]:
    return [c for c in getattr(fitted, "value_columns", ()) if c in frame.columns]


def check_estimates(
    fitted: Fitted | NotEstimable | None,
    window: Tally | tuple[Estimate, ...] | None,
    labelled: pd.DataFrame,
    kpis: KpiResult,
    cfg: ModelConfig,
) -> tuple[EstimateCheck, ...]:
    """Each estimated KPI of the window (``window``: its rows' tally, or the estimates a first run stored), held
    against its target and against the realized KPI of the labelled rows (which carry their row values)."""
    if fitted is None or window is None:
        return ()
    window_estimates = window if isinstance(window, tuple) else estimates(fitted, window)
    realized = {v.metric: v for v in kpis.overall}
    cols = value_columns(fitted, labelled)
    on_labelled: dict[str, Estimate] = {}
    if cols and len(labelled) and not isinstance(fitted, NotEstimable):
        on_labelled = {e.metric: e for e in estimates(fitted, fitted.tally(labelled[cols]))}
    targets = {k.metric: k for k in cfg.kpis}
    out = []
    for e in window_estimates:
        kpi = targets.get(e.metric)
        if kpi is None:
            continue
        real = realized.get(e.metric)
        out.append(
            EstimateCheck(
                e,
                kpi.target,
                kpi.direction,
                on_labelled.get(e.metric),
                real.value if real is not None else None,
                real.labelled if real is not None else 0,
                kpis.mature,
                real.level if real is not None else "pending",
            )
        )
    return tuple(out)


def stored_estimates(rows: pd.DataFrame) -> tuple[Estimate, ...]:
    """The window's estimates as a first run stored them (metric rows of kind ``estimate``; details parsed)."""
    out = []
    for _, r in rows.iterrows():
        d = r["details"]
        value = None if pd.isna(r["value"]) else float(r["value"])
        lower = None if pd.isna(r["lower"]) else float(r["lower"])
        upper = None if pd.isna(r["upper"]) else float(r["upper"])
        out.append(
            Estimate(r["name"], value, lower, upper, int(d.get("rows") or 0), d.get("method", ""), d.get("reason", ""))
        )
    return tuple(out)
