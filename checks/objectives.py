"""Objectives and key results (OKRs) reviewed per period: how often each key result was met (pure).

A key result holds one KPI to a target over a review period (an ISO week or a quarter in the model's time zone;
a window belongs to the period its start lies in). Each window of the period is judged by the KPI rules (the
95% interval wholly beyond the target, or ``consecutive`` mature windows on the wrong side: a model exactly
at target is not a coin toss); its attainment is the share of the evaluated windows not breached. Windows not
evaluated (labels pending, too few labels, labels that never matured, no run) are listed apart and never count
as met. A period is provisional while a window of it may still be judged (its label horizon has not passed, or
the period has not ended): its attainment may change when those windows mature.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd

from driftwarden.checks.kpis import _judge as judge_kpi
from driftwarden.config.model import KeyResultConfig, KpiConfig, ObjectiveConfig, ReviewPeriod

EVALUATED = ("ok", "warning", "breach")
MET = ("ok", "warning")
"""A warning (one point estimate beyond target, the evidence short of a breach) is not a miss."""


@dataclass(frozen=True)
class Period:
    kind: ReviewPeriod
    label: str
    """``2026-W43`` or ``2026-Q4``."""
    start: pd.Timestamp
    """Inclusive, local midnight in the model's zone."""
    end: pd.Timestamp

    def previous(self) -> Period:
        return period_of(self.start - pd.Timedelta(hours=1), self.kind, str(self.start.tz))

    def next(self) -> Period:
        return period_of(self.end + pd.Timedelta(hours=1), self.kind, str(self.start.tz))

    def holds(self, ts: pd.Timestamp) -> bool:
        return bool(self.start <= ts < self.end)


def _local(ts: datetime | pd.Timestamp | str, tz: str) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC").tz_convert(tz) if t.tzinfo is None else t.tz_convert(tz)


def period_of(ts: datetime | pd.Timestamp | str, kind: ReviewPeriod, tz: str) -> Period:
    """The ISO week or quarter ``ts`` lies in, in zone ``tz`` (a naive ``ts`` is UTC, as stored)."""
    t = _local(ts, tz)
    day = t.tz_localize(None).normalize()
    if kind == "week":
        first = day - pd.Timedelta(days=day.weekday())
        iso = first.isocalendar()
        label, last = f"{iso.year}-W{iso.week:02d}", first + pd.Timedelta(days=7)
    else:
        q = (day.month - 1) // 3
        first = pd.Timestamp(year=day.year, month=3 * q + 1, day=1)
        last = pd.Timestamp(year=day.year + (q == 3), month=(3 * q + 3) % 12 + 1, day=1)
        label = f"{day.year}-Q{q + 1}"
    loc = {"nonexistent": "shift_forward", "ambiguous": True}
    return Period(kind, label, first.tz_localize(tz, **loc), last.tz_localize(tz, **loc))  # type: ignore[arg-type]


def parse_period(text: str, tz: str) -> Period:
    """``2026-W43`` (an ISO week) or ``2026-Q4`` (a quarter) in zone ``tz``."""
    week = re.fullmatch(r"(\d{4})-W(\d{2})", text.strip())
    if week:
        year, number = int(week.group(1)), int(week.group(2))
        try:
            monday = datetime.fromisocalendar(year, number, 1)
        except ValueError:
            raise ValueError(f"{text!r}: {year} has no ISO week {number}") from None
        return period_of(pd.Timestamp(monday).tz_localize(tz), "week", tz)
    quarter = re.fullmatch(r"(\d{4})-Q([1-4])", text.strip())
    if quarter:
        first = pd.Timestamp(year=int(quarter.group(1)), month=3 * int(quarter.group(2)) - 2, day=1)
        return period_of(first.tz_localize(tz), "quarter", tz)
    raise ValueError(f"{text!r} is not a period: write an ISO week (2026-W43) or a quarter (2026-Q4)")


def in_time_frame(period: Period, objective: ObjectiveConfig) -> bool:
    """Whether the period lies in the objective's time frame (a quarter or a year; none: every period)."""
    frame = objective.time_frame
    if frame is None:
        return True
    mid = period.start + (period.end - period.start) / 2
    if "-Q" in frame:
        return period_of(mid, "quarter", str(period.start.tz)).label == frame
    return str(mid.year) == frame


@dataclass(frozen=True)
class WindowKpi:
    """One window's KPI as stored (the ``all`` segment of its current run), as a review reads it."""

    start: pd.Timestamp
    end: pd.Timestamp
    level: str
    """ok, warning, breach, pending, not_evaluated; ``missing``: no run of the window is stored."""
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    rows: int = 0
    """The window's predictions."""
    labelled: int = 0
    mature: bool = False
    incomplete: bool = False
    """The label horizon passed with coverage below maturity: judged on what arrived, a warning at most."""
    estimate: float | None = None
    estimate_lower: float | None = None
    estimate_upper: float | None = None
    note: str = ""

    @property
    def evaluated(self) -> bool:
        return self.level in EVALUATED and self.mature and not self.incomplete


def window_kpis(runs: pd.DataFrame, metrics: pd.DataFrame, metric: str, tz: str) -> list[WindowKpi]:
    """One metric's windows from stored rows: ``runs`` (id, window_start, window_end, rows, status) and their
    ``metrics`` rows (run_id, kind, name, segment, value, lower, upper, details; kinds ``kpi`` and
    ``estimate``), oldest first. A failed run's window is ``missing``."""
    sel = metrics[(metrics["name"] == metric) & (metrics["segment"] == "all")] if len(metrics) else metrics
    kpi = {int(r.run_id): r for r in sel[sel["kind"] == "kpi"].itertuples()} if len(sel) else {}
    estimated = {int(r.run_id): r for r in sel[sel["kind"] == "estimate"].itertuples()} if len(sel) else {}
    out = []
    for run in runs.sort_values("window_start").itertuples():
        start, end = _local(run.window_start, tz), _local(run.window_end, tz)
        k = kpi.get(int(run.id))
        est = _estimate(estimated.get(int(run.id)))
        if run.status == "failed" or k is None:
            out.append(
                WindowKpi(
                    start,
                    end,
                    "missing",
                    rows=_int(run.rows),
                    estimate=est.get("estimate"),
                    estimate_lower=est.get("estimate_lower"),
                    estimate_upper=est.get("estimate_upper"),
                )
            )
            continue
        d = _details(k.details)
        out.append(
            WindowKpi(
                start, end, str(d.get("level", "not_evaluated")), _num(k.value), _num(k.lower), _num(k.upper),
                _int(run.rows), _int(d.get("labelled")), bool(d.get("mature")), bool(d.get("incomplete")),
                estimate=est.get("estimate"), estimate_lower=est.get("estimate_lower"),
                estimate_upper=est.get("estimate_upper"), note=str(d.get("note") or ""),
            )
        )  # fmt: skip
    return out


def _details(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    return json.loads(raw) if isinstance(raw, str) and raw else {}


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _int(v: Any) -> int:
    return 0 if v is None or pd.isna(v) else int(v)


def _estimate(e: Any) -> dict[str, float | None]:
    if e is None:
        return {}
    return {"estimate": _num(e.value), "estimate_lower": _num(e.lower), "estimate_upper": _num(e.upper)}


Judged = Literal["ok", "warning", "breach", "pending", "not_evaluated", "incomplete", "missing"]


@dataclass(frozen=True)
class WindowResult:
    start: pd.Timestamp
    level: Judged
    value: float | None
    lower: float | None
    upper: float | None
    why: str = ""


@dataclass(frozen=True)
class Attainment:
    """One key result over one period."""

    kpi: str
    target: float
    per: str
    direction: str
    period: Period
    windows: tuple[WindowResult, ...]
    success: float
    provisional: bool
    """A window of the period may still be judged (its labels are maturing) or the period has not ended."""

    @property
    def met(self) -> tuple[WindowResult, ...]:
        return tuple(w for w in self.windows if w.level in MET)

    @property
    def missed(self) -> tuple[WindowResult, ...]:
        return tuple(w for w in self.windows if w.level == "breach")

    @property
    def not_evaluated(self) -> tuple[WindowResult, ...]:
        return tuple(w for w in self.windows if w.level not in EVALUATED)

    @property
    def evaluated(self) -> int:
        return len(self.met) + len(self.missed)

    @property
    def attainment(self) -> float | None:
        """Met / evaluated windows; None when no window was evaluated."""
        return len(self.met) / self.evaluated if self.evaluated else None

    @property
    def attained(self) -> bool | None:
        a = self.attainment
        return None if a is None else a >= self.success

    def to_json(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi, "target": self.target, "per": self.per, "direction": self.direction,
            "period": self.period.label, "attainment": self.attainment, "success": self.success,
            "attained": self.attained, "provisional": self.provisional, "evaluated": self.evaluated,
            "met": [w.start.isoformat() for w in self.met], "missed": [w.start.isoformat() for w in self.missed],
            "not_evaluated": [
                {"window": w.start.isoformat(), "level": w.level, "why": w.why} for w in self.not_evaluated
            ],
        }  # fmt: skip


def _period_total(judge: KpiConfig, period: Period, windows: Sequence[WindowResult]) -> WindowResult:
    """A key result held to the period's total: the windows' totals summed (their intervals as independent
    errors), judged by the KPI rules once every window of the period is evaluated; until then not evaluated,
    and never met, with the windows that are not."""
    missing = [w for w in windows if w.level not in EVALUATED or w.value is None]
    if not windows or missing:
        why = f"{len(missing)} of the period's {len(windows)} windows not evaluated: its total is not known"
        return WindowResult(period.start, "not_evaluated", None, None, None, why)
    total = sum(float(w.value or 0.0) for w in windows)
    half = math.sqrt(sum(((float(w.upper) - float(w.lower)) / 2) ** 2 for w in windows if w.upper is not None
                         and w.lower is not None))  # fmt: skip
    # one total, no streak: the interval rule alone decides (a total beyond the target within its noise warns)
    level, why = judge_kpi(judge.model_copy(update={"consecutive": 10**6}), total, total - half, total + half,
                           True, [])  # fmt: skip
    if level == "warning":
        why = "the total is beyond the target, but within its 95% interval"
    return WindowResult(period.start, level, total, total - half, total + half, why)  # type: ignore[arg-type]


def attainment(
    kr: KeyResultConfig,
    kpi: KpiConfig,
    windows: Sequence[WindowKpi],
    period: Period,
    as_of: datetime | pd.Timestamp,
    horizon: timedelta,
    success: float = 0.7,
    expected: Sequence[pd.Timestamp] = (),
) -> Attainment:
    """A key result's attainment over ``period``.

    ``windows``: the KPI's stored windows, oldest first, reaching back before the period (the consecutive rule
    reads the mature windows just before it); ``expected``: the starts of the windows the period should hold
    (those with no stored run are ``missing``); ``as_of``: now, or the moment the review is as of. With the key
    result's target equal to the KPI's (per prediction) the stored verdicts are taken as they are; otherwise each
    window is judged again against the key result's target by the same rules."""
    target = kpi.target if kr.target is None else kr.target
    judge = kpi.model_copy(update={"target": target})
    restated = target != kpi.target or kr.per in ("window", "period")
    as_of_ts = _local(as_of, str(period.start.tz))
    history: list[bool] = []
    results: list[WindowResult] = []
    provisional = period.end > as_of_ts
    seen = set()
    for w in sorted(windows, key=lambda x: x.start):
        scale = float(w.rows) if kr.per in ("window", "period") else 1.0
        value, lo, hi = (None if x is None else x * scale for x in (w.value, w.lower, w.upper))
        level: Judged = w.level  # type: ignore[assignment]
        why = w.note
        if w.level in EVALUATED and restated:
            level, why = judge_kpi(judge, value, lo, hi, w.mature, history, w.incomplete)  # type: ignore[assignment]
        if w.mature and value is not None and w.level in EVALUATED:  # a gap breaks a streak, as in the KPIs
            history.append(value < target if kpi.direction == "higher_is_better" else value > target)
        else:
            history = []
        if not period.holds(w.start):
            continue
        seen.add(w.start)
        if level in EVALUATED and w.incomplete:
            level, why = "incomplete", why or "labels never matured (the horizon passed)"
        if level not in EVALUATED and w.end + horizon > as_of_ts:
            provisional = True
        results.append(WindowResult(w.start, level, value, lo, hi, why))
    for start in expected:
        if start not in seen and period.holds(start):
            results.append(WindowResult(start, "missing", None, None, None, "no run stored"))
            provisional = provisional or start + horizon > as_of_ts
    results.sort(key=lambda r: r.start)
    if kr.per == "period":
        results = [_period_total(judge, period, results)]
    return Attainment(kr.kpi, target, kr.per, kpi.direction, period, tuple(results), success, provisional)


@dataclass(frozen=True)
class KpiSummary:
    """A KPI over a period: its labelled-row-weighted mean over the evaluated windows, and the windows by level."""

    metric: str
    target: float
    direction: str
    value: float | None
    windows: int
    evaluated: int
    breached: int
    pending: int

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "target": self.target, "direction": self.direction, "value": self.value,
            "windows": self.windows, "evaluated": self.evaluated, "breached": self.breached, "pending": self.pending,
        }  # fmt: skip


def summarize(kpi: KpiConfig, windows: Sequence[WindowKpi], period: Period) -> KpiSummary:
    inside = [w for w in windows if period.holds(w.start)]
    done = [w for w in inside if w.evaluated and w.value is not None]
    weight = sum(max(w.labelled, 1) for w in done)
    value = sum(w.value * max(w.labelled, 1) for w in done if w.value is not None) / weight if done else None
    return KpiSummary(
        kpi.metric,
        kpi.target,
        kpi.direction,
        value,
        len(inside),
        len(done),
        sum(w.level == "breach" for w in done),
        sum(w.level == "pending" for w in inside),
    )
