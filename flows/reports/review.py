"""A model's review of one period (an ISO week or a quarter): the KPIs against target with the trend on the
period before, the attainment of each key result, what the model's decisions cost, the incidents with their
cost, the retrains and promotions, and what is still provisional. Gathered from the store and the registry;
the judgement is ``checks.objectives`` and ``checks.value``. Markdown for people, JSON for scripts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from driftwarden.checks.objectives import (
    Attainment,
    KpiSummary,
    Period,
    WindowKpi,
    attainment,
    in_time_frame,
    period_of,
    summarize,
    window_kpis,
)
from driftwarden.checks.value import IncidentCost, Total, incident_cost, period_total
from driftwarden.checks.windows import windows_between
from driftwarden.config.model import ModelConfig, ReviewPeriod
from driftwarden.flows.registry.versions import Registry
from driftwarden.flows.reports.postmortems import refresh_quietly
from driftwarden.flows.store import latest_runs, open_store, run_metrics
from driftwarden.flows.store.incidents import list_incidents

CONTEXT_WINDOWS = 7
"""Windows read beyond an incident on either side: the usual cost before it, the recovery after it."""
_CAUSE_WORDS = {
    "concept_change": "the concept change",
    "input_drift": "the input drift",
    "data_quality": "the broken input data",
    "volume": "the drop in predictions",
}


@dataclass(frozen=True)
class IncidentLine:
    id: str
    cause: str
    state: str
    first_window: pd.Timestamp
    last_window: pd.Timestamp
    title: str
    summary: str
    postmortem: str | None
    cost: IncidentCost | None
    cost_sentence: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "cause": self.cause, "state": self.state, "first_window": self.first_window.isoformat(),
            "last_window": self.last_window.isoformat(), "title": self.title, "summary": self.summary,
            "postmortem": self.postmortem, "cost": None if self.cost is None else self.cost.to_json(),
            "cost_sentence": self.cost_sentence,
        }  # fmt: skip


@dataclass(frozen=True)
class ObjectiveReview:
    objective: str
    success: float
    key_results: tuple[Attainment, ...]


@dataclass(frozen=True)
class Review:
    model: str
    period: Period
    previous: Period
    as_of: pd.Timestamp
    kpis: tuple[tuple[KpiSummary, KpiSummary], ...]
    """Each KPI this period and the one before."""
    objectives: tuple[ObjectiveReview, ...]
    cost: tuple[Total, Total] | None
    currency: str
    incidents: tuple[IncidentLine, ...]
    retrains: tuple[dict[str, Any], ...]
    provisional: tuple[str, ...] = field(default=())
    """What may still change, in words (empty: the review is final)."""
    unit: str = "windows"

    @property
    def is_provisional(self) -> bool:
        return bool(self.provisional)

    def to_json(self) -> dict[str, Any]:
        def kpi(cur: KpiSummary, prev: KpiSummary) -> dict[str, Any]:
            trend = None if cur.value is None or prev.value is None else cur.value - prev.value
            return {**cur.to_json(), "previous": prev.value, "trend": trend}

        return {
            "model": self.model, "period": self.period.label, "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(), "previous_period": self.previous.label,
            "as_of": self.as_of.isoformat(), "provisional": self.is_provisional, "pending": list(self.provisional),
            "kpis": [kpi(c, p) for c, p in self.kpis],
            "objectives": [
                {"objective": o.objective, "success": o.success, "key_results": [k.to_json() for k in o.key_results]}
                for o in self.objectives
            ],
            "cost": None if self.cost is None else {
                "currency": self.currency, "period": self.cost[0].to_json(), "previous": self.cost[1].to_json(),
            },
            "incidents": [i.to_json() for i in self.incidents],
            "retrains": list(self.retrains),
        }  # fmt: skip


def _utc_naive(ts: pd.Timestamp) -> datetime:
    return ts.tz_convert("UTC").tz_localize(None).to_pydatetime()


def _aware(ts: Any, tz: str) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return (t.tz_localize("UTC") if t.tzinfo is None else t).tz_convert(tz)


def last_complete(cfg: ModelConfig, kind: ReviewPeriod, now: datetime | None = None) -> Period:
    """The last period that has ended by ``now``: what a scheduled review covers."""
    tz = cfg.window.timezone
    return period_of(now or datetime.now(UTC), kind, tz).previous()


def gather(
    cfg: ModelConfig, store_url: str, period: Period, as_of: datetime | None = None, refresh: bool = True
) -> Review:
    """The review of ``period`` as the store and the registry hold it now (``as_of``: now, or the moment that
    decides what is still provisional). ``refresh``: the incidents and their post-mortems are derived again from
    the store first (a failure there is a warning: the review goes on with what is stored)."""
    tz = cfg.window.timezone
    now = _aware(as_of or datetime.now(UTC), tz)
    if refresh:
        refresh_quietly(cfg, store_url, publish=False)
    engine = open_store(store_url)
    try:
        found = list_incidents(engine, cfg.name)
        incidents = [
            r
            for r in found.itertuples()
            if _aware(r.first_window, tz) < period.end and _aware(r.last_window, tz) >= period.start
        ]
        length = cfg.window_length
        previous = period.previous()
        start = min([previous.start, *(_aware(r.first_window, tz) for r in incidents)])
        end = max([period.end, *(_aware(r.last_window, tz) for r in incidents)])
        lookback = length * max(CONTEXT_WINDOWS, max((k.consecutive for k in cfg.kpis), default=1))
        runs = latest_runs(engine, cfg.name, _utc_naive(start - lookback), _utc_naive(end + length * CONTEXT_WINDOWS))
        rows = run_metrics(engine, runs["id"].tolist()) if len(runs) else pd.DataFrame()
    finally:
        engine.dispose()
    if len(rows):
        rows = rows[rows["kind"].isin(["kpi", "estimate"])]
    windows = {k.metric: window_kpis(runs, rows, k.metric, tz) if len(runs) else [] for k in cfg.kpis}
    expected = [w.start for w in windows_between(period.start, min(period.end, now), length, tz)]
    summaries = tuple((summarize(k, windows[k.metric], period), summarize(k, windows[k.metric], previous))
                      for k in cfg.kpis)  # fmt: skip
    kpi_of = {k.metric: k for k in cfg.kpis}
    objectives = tuple(
        ObjectiveReview(
            o.objective,
            o.success,
            tuple(
                attainment(kr, kpi_of[kr.kpi], windows[kr.kpi], period, now, cfg.horizon, o.success, expected)
                for kr in o.key_results
            ),
        )
        for o in cfg.objectives
        if o.period == period.kind and in_time_frame(period, o)
    )
    cost_windows = windows.get("cost", [])
    cost = None
    if "cost" in kpi_of:
        cost = (period_total(cost_windows, period), period_total(cost_windows, previous))
    currency = cfg.value.currency if cfg.value is not None else ""
    unit = (
        "nights"
        if length.days == 1
        else "hours"
        if length.seconds == 3600
        else "weeks"
        if length.days == 7
        else "windows"
    )
    attempts = _attempts(cfg)
    promoted_at = [
        _aware((a.get("shadow") or {}).get("decided_as_of") or a["as_of"], tz)  # a shadow promotion: when decided
        for a in attempts
        if a.get("outcome") == "promoted" and a.get("as_of")
    ]
    lines = []
    for r in incidents:
        first, last = _aware(r.first_window, tz), _aware(r.last_window, tz)
        ic = incident_cost(cost_windows, first, last) if cost_windows else None
        # a promotion between the incident's first window and its close ended it (a shadow one is decided days
        # after the retrain, often after the last breached window)
        closed = None if r.closed_at is None or pd.isna(r.closed_at) else _aware(r.closed_at, tz)
        until = "before the retrain" if any(first <= t and (closed is None or t <= closed) for t in promoted_at) else ""
        what = _CAUSE_WORDS.get(r.cause, r.cause.replace("_", " "))
        sentence = "" if ic is None else ic.sentence(what, currency, unit, until, fixed=bool(until))
        lines.append(IncidentLine(str(r.id), r.cause, r.state, first, last, r.title, r.summary or "", r.html_path,
                                  ic, sentence))  # fmt: skip
    retrains = tuple(
        {k: a.get(k) for k in ("as_of", "outcome", "cause", "version", "champion_before", "champion_after", "reason")}
        for a in attempts
        if a.get("as_of") and period.holds(_aware(a["as_of"], tz))
    )
    provisional = _provisional(period, now, objectives, windows, cfg)
    return Review(cfg.name, period, previous, now, summaries, objectives, cost, currency, tuple(lines), retrains,
                  provisional, unit)  # fmt: skip


def _attempts(cfg: ModelConfig) -> list[dict[str, Any]]:
    try:
        return Registry(cfg).attempts()
    except (OSError, ValueError):  # no registry yet: a model monitored without retraining
        return []


def _provisional(
    period: Period, now: pd.Timestamp, objectives: tuple[ObjectiveReview, ...], windows: dict[str, list[WindowKpi]],
    cfg: ModelConfig,
) -> tuple[str, ...]:  # fmt: skip
    out = []
    if period.end > now:
        out.append(f"{period.label} has not ended (as of {now:%Y-%m-%d %H:%M})")
    young = sorted(
        {
            w.start
            for ws in windows.values()
            for w in ws
            if period.holds(w.start) and not w.evaluated and w.level != "incomplete" and w.end + cfg.horizon > now
            and not (w.level == "not_evaluated" and w.mature)
        }
    )  # fmt: skip
    if young:
        days = ", ".join(f"{t:%Y-%m-%d %H:%M}" if cfg.window_length.days < 1 else f"{t:%Y-%m-%d}" for t in young)
        out.append(f"labels still maturing for the windows of {days} (label horizon {cfg.label_horizon})")
    if not young and any(k.provisional for o in objectives for k in o.key_results) and period.end <= now:
        out.append("a window of the period may still be judged")
    return tuple(out)


# --- words -------------------------------------------------------------------------------------------------


def _fmt(v: float | None, money: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if money and abs(v) >= 100 else f"{v:,.2f}" if money else f"{v:.3f}"


def _side(direction: str) -> str:
    return ">=" if direction == "higher_is_better" else "<="


def _day(t: pd.Timestamp, hourly: bool) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if hourly else f"{t:%Y-%m-%d}"


def to_markdown(review: Review, cfg: ModelConfig) -> str:
    p = review.period
    hourly = cfg.window_length.days < 1
    last_day = p.end - pd.Timedelta(days=1)
    state = "PROVISIONAL" if review.is_provisional else "final"
    out = [
        f"# {review.model}: review of {p.label} ({p.start:%Y-%m-%d} to {last_day:%Y-%m-%d}, {cfg.window.timezone})",
        "",
        f"As of {review.as_of:%Y-%m-%d %H:%M}; {state}.",
    ]
    if review.objectives:
        out += ["", "## Key results"]
    for o in review.objectives:
        out += ["", f"**{o.objective}** (attained at {o.success:.0%} of the evaluated windows)", ""]
        out += ["| key result | attainment | met | missed | not evaluated | verdict |", "|---|---|---|---|---|---|"]
        for k in o.key_results:
            money = k.kpi == "cost"
            per = {"window": review.unit.rstrip("s"), "period": p.kind, "prediction": "prediction"}[k.per]
            unit = f" {review.currency} a {per}" if money else ""
            what = f"{k.kpi} {_side(k.direction)} {_fmt(k.target, money)}{unit}"
            share = "n/a" if k.attainment is None else f"{k.attainment:.0%} ({len(k.met)} of {k.evaluated})"
            apart = ", ".join(f"{_day(w.start, hourly)} {w.level.replace('_', ' ')}" for w in k.not_evaluated) or "-"
            verdict = "no evaluated window" if k.attained is None else "attained" if k.attained else "below the bar"
            verdict += " (provisional)" if k.provisional else ""
            out.append(f"| {what} | {share} | {len(k.met)} | {len(k.missed)} | {apart} | {verdict} |")
    out += ["", "## KPIs against target", "", f"| KPI | target | {p.label} | {review.previous.label} | trend | "
            "breached windows |", "|---|---|---|---|---|---|"]  # fmt: skip
    for cur, prev in review.kpis:
        money = cur.metric == "cost"
        trend = "n/a"
        if cur.value is not None and prev.value is not None:
            delta = cur.value - prev.value
            better = delta > 0 if cur.direction == "higher_is_better" else delta < 0
            trend = f"{delta:+,.3f} ({'better' if better else 'worse' if delta else 'flat'})"
        pending = f", {cur.pending} pending" if cur.pending else ""
        out.append(
            f"| {cur.metric}{f' ({review.currency} a prediction)' if money else ''} | {_side(cur.direction)} "
            f"{_fmt(cur.target, money)} | {_fmt(cur.value, money)} | {_fmt(prev.value, money)} | {trend} | "
            f"{cur.breached} of {cur.evaluated} evaluated{pending} |"
        )
    if review.cost is not None:
        cur_t, prev_t = review.cost
        c = review.currency
        out += ["", "## What the model's decisions cost", ""]
        for label, t in ((p.label, cur_t), (review.previous.label, prev_t)):
            est = f", {t.estimated} of them estimated before their labels" if t.estimated else ""
            unknown = f"; {t.unknown} without a cost" if t.unknown else ""
            out.append(
                f"- {label}: {t.total:,.0f} {c} (95%: {t.total - t.half:,.0f} to {t.total + t.half:,.0f}) over "
                f"{t.windows} {review.unit}{est}{unknown}"
            )
        if prev_t.windows:
            out.append(f"- change: {cur_t.total - prev_t.total:+,.0f} {c}")
    out += ["", "## Incidents", ""]
    if not review.incidents:
        out.append("None in this period.")
    for i in review.incidents:
        span = f"{_day(i.first_window, hourly)} to {_day(i.last_window, hourly)}"
        out.append(f"- **{i.title}** ({i.state}; {span}): {i.summary}")
        if i.cost_sentence:
            out.append(f"  - Cost: {i.cost_sentence}.")
        if i.postmortem:
            out.append(f"  - Post-mortem: {i.postmortem}")
    out += ["", "## Retrains and promotions", ""]
    if not review.retrains:
        out.append("None in this period.")
    for a in review.retrains:
        t = _aware(a["as_of"], cfg.window.timezone)
        outcome = a.get("outcome")
        v = f" v{a['version']}" if a.get("version") and outcome == "promoted" else ""
        out.append(f"- {t:%Y-%m-%d %H:%M}: {outcome}{v} ({a.get('cause') or 'manual'}): {a.get('reason') or ''}")
    out += ["", "## Provisional", ""]
    out += [f"- {line}" for line in review.provisional] or ["Nothing: every window of the period has been judged."]
    return "\n".join(out) + "\n"
