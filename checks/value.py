"""What the model's decisions cost over many windows: a period's total, and what an incident cost (pure).

The ``cost`` KPI is per prediction (``checks/metrics.py``); a window's total is that times the window's
predictions, realized where the window's labels matured and estimated (CBPE, DLE) where they have not. Totals
add up over windows; their 95% intervals add in quadrature (windows are independent samples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from driftwarden.checks.objectives import MET, Period, WindowKpi

Z95 = 1.959963984540054


@dataclass(frozen=True)
class WindowCost:
    start: pd.Timestamp
    per_prediction: float
    half: float
    """Half the width of its 95% interval, per prediction."""
    rows: int
    estimated: bool
    """No matured labels yet: CBPE's or DLE's estimate."""

    @property
    def total(self) -> float:
        return self.per_prediction * self.rows


def window_cost(w: WindowKpi) -> WindowCost | None:
    """A window's cost as best known: realized when its labels matured (or the horizon passed), else the
    estimate, else None."""
    if w.value is not None and (w.mature or w.incomplete):
        return WindowCost(w.start, w.value, _half(w.value, w.lower, w.upper), w.rows, False)
    if w.estimate is not None:
        return WindowCost(w.start, w.estimate, _half(w.estimate, w.estimate_lower, w.estimate_upper), w.rows, True)
    return None


def _half(v: float, lo: float | None, hi: float | None) -> float:
    if lo is None or hi is None:
        return 0.0
    return max(hi - v, v - lo, 0.0)


@dataclass(frozen=True)
class Total:
    total: float
    half: float
    windows: int
    estimated: int
    """How many of the windows counted are estimates."""
    unknown: int
    """Windows of the period with neither a realized nor an estimated cost."""

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total, "lower": self.total - self.half, "upper": self.total + self.half,
            "windows": self.windows, "estimated": self.estimated, "unknown": self.unknown,
        }  # fmt: skip


def period_total(windows: Sequence[WindowKpi], period: Period) -> Total:
    """The total cost of the period's windows (by their start), with its 95% interval."""
    inside = [w for w in windows if period.holds(w.start)]
    costs = [c for c in (window_cost(w) for w in inside) if c is not None]
    return Total(
        sum(c.total for c in costs),
        math.sqrt(sum((c.half * c.rows) ** 2 for c in costs)),
        len(costs),
        sum(c.estimated for c in costs),
        len(inside) - len(costs),
    )


@dataclass(frozen=True)
class IncidentCost:
    """What an incident cost beyond the model's usual cost, and how much of it the fix won back."""

    windows: int
    """Windows of the incident with a cost (realized or estimated)."""
    extra: float
    """Its cost beyond the baseline's per prediction, over its windows' predictions."""
    half: float
    """Half the width of the 95% interval of ``extra`` (the windows' own intervals; the baseline's is left out)."""
    estimated: int
    baseline: float | None
    """Cost per prediction of the evaluated, unbreached windows just before it."""
    during: float
    """Cost per prediction over its windows."""
    after: float | None
    """Cost per prediction of the evaluated windows just after it."""

    @property
    def recovered(self) -> float | None:
        """The share of the loss per prediction the windows after it won back (1: back to the baseline)."""
        if self.after is None or self.baseline is None or self.during <= self.baseline:
            return None
        return (self.during - self.after) / (self.during - self.baseline)

    def sentence(self, what: str, currency: str, unit: str = "windows", until: str = "", fixed: bool = False) -> str:
        """E.g. 'the concept change cost an estimated 41,000 EUR (95%: 38,000 to 44,000) over 6 nights before the
        retrain; the new model recovered 85% of the loss'. What the new model won back is told only when a retrain
        of the incident was promoted (``fixed``) and won some back; an incident cheaper than usual says so."""
        span = f"{self.windows} {unit}" if self.windows != 1 else f"1 {unit.rstrip('s')}"
        if self.extra + self.half < 0:  # cheaper than usual: a "cost" below zero reads as a typo
            return (
                f"{what} cost nothing beyond the usual: an estimated {-self.extra:,.0f} {currency} less (95%: "
                f"{-(self.extra + self.half):,.0f} to {-(self.extra - self.half):,.0f} less) over {span}"
            )
        until = f" {until}" if until else ""
        text = (
            f"{what} cost an estimated {self.extra:,.0f} {currency} (95%: {self.extra - self.half:,.0f} to "
            f"{self.extra + self.half:,.0f}) over {span}{until}"
        )
        if fixed and self.recovered is not None and self.recovered > 0:
            text += f"; the new model recovered {self.recovered:.0%} of the loss"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "windows": self.windows, "extra": self.extra, "lower": self.extra - self.half,
            "upper": self.extra + self.half, "estimated": self.estimated, "baseline": self.baseline,
            "during": self.during, "after": self.after, "recovered": self.recovered,
        }  # fmt: skip


def incident_cost(
    windows: Sequence[WindowKpi],
    first: datetime | pd.Timestamp,
    last: datetime | pd.Timestamp,
    *,
    baseline_windows: int = 7,
    after_windows: int = 7,
) -> IncidentCost | None:
    """What the incident over the windows starting ``first`` .. ``last`` (inclusive) cost beyond the usual.

    ``windows``: the ``cost`` KPI's windows of the model, any order (``objectives.window_kpis`` makes them from
    stored rows). The usual is the cost per prediction of up to ``baseline_windows`` evaluated, unbreached
    windows just before ``first``; the windows after are up to ``after_windows`` evaluated ones after ``last``.
    None when no window of the incident has a cost."""
    ordered = sorted(windows, key=lambda w: w.start)
    lo_ts, hi_ts = pd.Timestamp(first), pd.Timestamp(last)
    lo_ts = lo_ts.tz_localize("UTC") if lo_ts.tzinfo is None else lo_ts
    hi_ts = hi_ts.tz_localize("UTC") if hi_ts.tzinfo is None else hi_ts
    during = [c for w in ordered if lo_ts <= w.start <= hi_ts and (c := window_cost(w)) is not None]
    if not during:
        return None
    before = [w for w in ordered if w.start < lo_ts and w.evaluated and w.level in MET][-baseline_windows:]
    after = [w for w in ordered if w.start > hi_ts and w.evaluated][:after_windows]
    baseline = _per_prediction([(w.value, w.rows) for w in before])
    mean_during = _per_prediction([(c.per_prediction, c.rows) for c in during])
    assert mean_during is not None
    base = baseline if baseline is not None else 0.0
    return IncidentCost(
        len(during),
        sum((c.per_prediction - base) * c.rows for c in during),
        math.sqrt(sum((c.half * c.rows) ** 2 for c in during)),
        sum(c.estimated for c in during),
        baseline,
        mean_during,
        _per_prediction([(w.value, w.rows) for w in after]),
    )


def _per_prediction(pairs: Sequence[tuple[float | None, int]]) -> float | None:
    known = [(v, n) for v, n in pairs if v is not None and n > 0]
    n = sum(k for _, k in known)
    return sum(v * k for v, k in known) / n if n else None
