"""The post-mortem of an incident (pure): a document for a stakeholder, in plain words, from the incident and
its evidence (plain data the flows gather from the store, the registry and the outbox).

What happened (the KPI and its interval against the target, since when, how many predictions were made while
it was breached), the evidence (validation failures, drifted features ranked by effect, the segments that carry
the breach, label coverage), where the model failed (for a KPI cause: the slices of the data that carried its
mistakes, learned on the incident's older windows and checked on its newer ones, and the features associated
with them; computed once by the flows and handed in), the cause and the rule that chose it (the stored findings
say it in figures), what was done (alerts, retrains, the holdout comparison and its test), and what is still
open. Rendered to markdown and to a small HTML page where every value from data is escaped. Masked and excluded
columns (PII) never appear: their rows are dropped and any stored sentence naming one is left out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from driftwarden.checks.incidents import CAUSE_WORDS, KPI_CAUSES, Incident, RetrainAttempt, local_label
from driftwarden.checks.objectives import WindowKpi
from driftwarden.checks.slices import SliceReport
from driftwarden.checks.value import IncidentCost, incident_cost


@dataclass(frozen=True)
class KpiFigure:
    window_start: datetime
    metric: str
    value: float | None
    lower: float | None
    upper: float | None
    target: float | None
    direction: str = "higher_is_better"
    labelled: int | None = None
    level: str | None = None
    mature: bool = True
    segment: str = "all"


@dataclass(frozen=True)
class ValidationFailure:
    window_start: datetime
    column: str | None
    rule: str
    detail: str
    share: float | None = None
    allowed: float | None = None


@dataclass(frozen=True)
class DriftFigure:
    window_start: datetime
    column: str
    method: str
    value: float | None
    threshold: float | None
    drifted: bool

    @property
    def effect(self) -> float:
        """How far past its threshold: a distance over its threshold, a p-value's threshold over it."""
        if self.value is None or not self.threshold:
            return 0.0
        if self.method in ("ks", "chisquare"):  # p-values: smaller is stronger evidence
            return self.threshold / max(self.value, 1e-300)
        return self.value / self.threshold


@dataclass(frozen=True)
class SegmentDriftFigure:
    """A feature that drifted in the rows of one segment value (``column=value``) of a window."""

    window_start: datetime
    segment: str
    column: str
    method: str
    value: float | None
    threshold: float | None

    @property
    def effect(self) -> float:
        return DriftFigure(self.window_start, self.column, self.method, self.value, self.threshold, True).effect


@dataclass(frozen=True)
class Finding:
    check: str
    level: str
    detail: str


@dataclass(frozen=True)
class WindowEvidence:
    """One window's stored evidence: its run's summary and findings and its metric rows, by kind."""

    window_start: datetime
    summary: str = ""
    findings: tuple[Finding, ...] = ()
    kpis: tuple[KpiFigure, ...] = ()
    validation: tuple[ValidationFailure, ...] = ()
    drift: tuple[DriftFigure, ...] = ()
    failures: Mapping[str, int] = field(default_factory=dict)
    """Failure samples logged for the window, by reason."""
    volume: str | None = None
    """The volume check's note when it failed (``40 rows, below the floor of 504 ...``)."""
    estimates: tuple[KpiFigure, ...] = ()
    """The KPIs estimated from the model's confidence (before or beside the labels)."""
    segment_drift: tuple[SegmentDriftFigure, ...] = ()
    """The features that drifted per segment value (informational: no part of the verdict)."""


@dataclass(frozen=True)
class AlertSent:
    at: datetime
    channel: str
    title: str
    status: str
    """sent, pending, dead."""


@dataclass(frozen=True)
class Evidence:
    windows: tuple[WindowEvidence, ...] = ()
    """The incident's windows' evidence (any order; those of other windows are ignored)."""
    closing: WindowEvidence | None = None
    """The window that cleared it."""
    alerts: tuple[AlertSent, ...] = ()
    private_columns: frozenset[str] = frozenset()
    report_paths: Mapping[datetime, str] = field(default_factory=dict)
    """Each window's run page by its start, as a link from the post-mortem's page (relative when both sit in
    the same reports folder)."""
    model_page: str | None = None
    """The model's page, as a link from the post-mortem's page (``../model.html``)."""
    where_it_fails: SliceReport | None = None
    """The slices that carried the mistakes in the incident's windows (``checks.slices.incident_slices``)."""
    cost_windows: tuple[WindowKpi, ...] = ()
    """The ``cost`` KPI's windows around the incident (``checks.objectives.window_kpis``): at least
    ``COST_CONTEXT`` before its first window and after its last; empty when the model's decisions have no
    value configured."""
    currency: str = ""


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    table: Table | None = None


@dataclass(frozen=True)
class PostMortem:
    id: str
    model: str
    cause: str
    state: str
    title: str
    summary: str
    """One plain sentence."""
    sections: tuple[Section, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    """The page's links: a window's label in the first column of a table (``window``) to its run page."""
    model_page: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "cause": self.cause,
            "state": self.state,
            "title": self.title,
            "summary": self.summary,
            "facts": dict(self.facts),
            "links": {"model_page": self.model_page, "windows": dict(self.links)},
            "sections": [
                {**asdict(s), "table": asdict(s.table) if s.table is not None else None} for s in self.sections
            ],
        }

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", "", self.summary, ""]
        for s in self.sections:
            lines += [f"## {s.heading}", ""]
            for p in s.paragraphs:
                lines += [p, ""]
            if s.bullets:
                lines += [f"- {b}" for b in s.bullets] + [""]
            if s.table is not None:
                lines.append("| " + " | ".join(_cell(h) for h in s.table.header) + " |")
                lines.append("|" + "---|" * len(s.table.header))
                lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in s.table.rows]
                lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def to_html(self) -> str:
        e = html.escape
        out = [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{e(self.title)}</title>",
            f"<style>{_CSS}</style></head><body>",
        ]
        model_page = _safe_href(self.model_page)
        if model_page:
            out.append(f'<p class="nav"><a href="{e(model_page)}">{e(self.model)}: the model page</a></p>')
        out += [
            f'<p class="state {e(self.state)}">{e(self.state)}</p>',
            f"<h1>{e(self.title)}</h1>",
            f'<p class="summary">{e(self.summary)}</p>',
        ]
        for s in self.sections:
            out.append(f"<h2>{e(s.heading)}</h2>")
            out += [f"<p>{e(p)}</p>" for p in s.paragraphs]
            if s.bullets:
                out.append("<ul>" + "".join(f"<li>{e(b)}</li>" for b in s.bullets) + "</ul>")
            if s.table is not None:
                head = "".join(f"<th>{e(h)}</th>" for h in s.table.header)
                links = self.links if s.table.header[:1] == ("window",) else {}
                body = "".join(
                    "<tr>" + "".join(f"<td>{_linked(c, links.get(c) if not i else None)}</td>"
                                     for i, c in enumerate(row)) + "</tr>"
                    for row in s.table.rows
                )  # fmt: skip
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"


_CSS = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:52em;margin:2em auto;padding:0 1em;color:#222}"
    "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}"
    "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
    ".summary{font-size:1.05em}.state{display:inline-block;padding:0 .5em;border-radius:3px;color:#fff}"
    ".open{background:#b3261e}.closed{background:#2e7d32}.nav{margin:0 0 .5em;font-size:.9em}"
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _safe_href(href: str | None) -> str | None:
    """A link the page may carry: a relative path, or http(s) or file; never a script's scheme."""
    if not href:
        return None
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", href)
    if scheme and scheme.group(1).lower() not in ("http", "https", "file"):
        return None
    return href


def _linked(text: str, href: str | None) -> str:
    safe = _safe_href(href)
    if safe is None:
        return html.escape(text)
    return f'<a href="{html.escape(safe)}">{html.escape(text)}</a>'


# --- words ----------------------------------------------------------------------------------------------

_WHAT = {
    "volume": "the feed delivered too few predictions to monitor the model properly",
    "data_quality": "the data reaching the model broke its validation rules",
    "input_drift": "the model's inputs drifted away from the data it was trained on",
    "concept_change": "the model got worse while its inputs looked normal: the relationship it learned has changed",
    "undetermined": "the model got worse, and there were too few rows to tell whether its inputs had changed",
}
_RULE = {
    "volume": "A window is a volume breach when it has fewer rows than the floor (the configured minimum, or a "
    "share of the recent windows' median).",
    "data_quality": "A window is a data-quality breach when a validation rule fails beyond its tolerance (a share "
    "of bad rows that is new, standing or risen well above its level), or a rule allowing no bad row is broken.",
    "input_drift": "A window is an input-drift breach when the share of drifted features reaches the dataset rule, "
    "or when a KPI breach comes with drifted features or was predicted by the model's own confidence.",
    "concept_change": "A KPI breach is a concept change when the inputs look normal: the realized KPI is worse than "
    "what the model's confidence predicts on the same labelled rows, or no feature drifted and a drift at the "
    "threshold is ruled out in every feature.",
    "undetermined": "A KPI breach is undetermined when the inputs could not be checked: drift was not evaluated, "
    "or too few rows to rule a drift at the threshold out.",
}
_CHECKS_OF = {
    "volume": ("volume",),
    "data_quality": ("validation",),
    "input_drift": ("drift", "multivariate_drift", "estimate", "estimate_match", "kpi"),
    "concept_change": ("kpi", "estimate_gap", "drift"),
    "undetermined": ("kpi", "drift"),
}


COST_CONTEXT = 7
"""Windows before an incident that make its usual cost, and windows after it that tell what the fix won back
(as the review counts them)."""
_COST_WHAT = {
    "concept_change": "the concept change",
    "input_drift": "the input drift",
    "data_quality": "the broken input data",
    "volume": "the drop in predictions",
    "undetermined": "the KPI breach",
}
"""How an incident's cost names it: the review's words."""


def _unit(incident: Incident) -> str:
    """The incident's windows in words: nights for daily windows (23 to 25 hours across DST), hours, weeks."""
    hours = round((incident.windows[0].window_end - incident.windows[0].window_start).total_seconds() / 3600)
    return "nights" if 23 <= hours <= 25 else "hours" if hours == 1 else "weeks" if 167 <= hours <= 169 else "windows"


def incident_cost_of(incident: Incident, evidence: Evidence) -> tuple[IncidentCost, str] | None:
    """What the incident cost beyond the usual and its sentence, worded as the review words it (``before the
    retrain`` when a retrain was promoted by the end of its last window; what the new model won back only
    when one was); None without a cost."""
    if not evidence.cost_windows:
        return None
    ic = incident_cost(
        evidence.cost_windows, incident.first_window, incident.last_window,
        baseline_windows=COST_CONTEXT, after_windows=COST_CONTEXT,
    )  # fmt: skip
    if ic is None:
        return None
    promoted = any(
        a.outcome == "promoted"
        and incident.first_window <= a.ended
        and (incident.closed_at is None or a.ended <= incident.closed_at)  # a shadow promotion ends it later
        for a in incident.attempts
    )
    what = _COST_WHAT.get(incident.cause, incident.cause.replace("_", " "))
    unit = _unit(incident)
    fixed = any(a.outcome == "promoted" for a in incident.attempts)
    return ic, ic.sentence(what, evidence.currency, unit, "before the retrain" if promoted else "", fixed=fixed)


def _n(v: float | int | None) -> str:
    return "n/a" if v is None else f"{int(v):,}"


def _v(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _g(v: float | None) -> str:
    return "n/a" if v is None else f"{v:g}"


def _p(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.2g}" if v >= 1e-3 else f"{v:.2e}"


def _when(ts: datetime | None, tz: str) -> str:
    if ts is None:
        return "n/a"
    return pd.Timestamp(ts).tz_localize("UTC").tz_convert(tz).strftime("%Y-%m-%d %H:%M %Z")


def _day(ts: datetime, tz: str) -> str:
    return local_label(ts, tz)


def iso(ts: datetime | None, tz: str) -> str | None:
    """A stored time (naive UTC) as ISO 8601 with its offset in the model's zone: what JSON carries."""
    if ts is None:
        return None
    return pd.Timestamp(ts).tz_localize("UTC").tz_convert(tz).isoformat()


def local_time(ts: datetime | None, tz: str) -> str:
    """A stored time (naive UTC) in words in the model's zone (``2026-10-24 00:00 CEST``)."""
    return _when(ts, tz)


_ISO_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?(?!\d)")
"""An ISO time inside a stored sentence (the policy writes ``since 2026-10-18T22:00`` in UTC)."""
_BIG = re.compile(r"(?<![\w.,:/=+-])(\d{4,})(?![\w,:/-]|\.\d)")
"""A whole number of four digits or more inside a sentence, not part of a date, time, decimal or name."""


def _stored_time(match: re.Match[str]) -> pd.Timestamp | None:
    try:
        t = pd.Timestamp(match.group(0))
    except (TypeError, ValueError):
        return None
    return t.tz_localize("UTC") if t.tzinfo is None else t  # the store's times are UTC


def localize_times(text: str, tz: str, as_iso: bool = False) -> str:
    """The ISO times in ``text`` (naive ones are UTC) in the model's zone: in words, or ISO with the offset."""

    def one(m: re.Match[str]) -> str:
        t = _stored_time(m)
        if t is None:
            return m.group(0)
        local = t.tz_convert(tz)
        return local.isoformat() if as_iso else local.strftime("%Y-%m-%d %H:%M %Z")

    return _ISO_TIME.sub(one, text)


def _thousands(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return m.group(1) if 1900 <= n <= 2100 and len(m.group(1)) == 4 else f"{n:,}"  # a year stays a year

    return _BIG.sub(one, text)


def _words(text: str, tz: str) -> str:
    """A sentence as the page shows it: stored times in the model's zone, numbers with thousands separators."""
    return _thousands(localize_times(text, tz))


def _reworded(section: Section, tz: str) -> Section:
    table = section.table
    if table is not None:
        table = Table(table.header, tuple(tuple(_words(c, tz) for c in row) for row in table.rows))
    return Section(
        section.heading,
        tuple(_words(p, tz) for p in section.paragraphs),
        tuple(_words(b, tz) for b in section.bullets),
        table,
    )


def _interval(k: KpiFigure) -> str:
    if k.lower is None or k.upper is None:
        return _v(k.value)
    return f"{_v(k.value)} (95% interval {_v(k.lower)} to {_v(k.upper)})"


def _side(k: KpiFigure) -> str:
    return "at least" if k.direction == "higher_is_better" else "at most"


def _mentions(text: str, names: Iterable[str]) -> bool:
    return any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text) for n in names if n)


def _segment_column(segment: str) -> str:
    return segment.split("=", 1)[0]


# --- the document ---------------------------------------------------------------------------------------


def write_postmortem(incident: Incident, evidence: Evidence) -> PostMortem:
    """The post-mortem of ``incident`` from ``evidence``."""
    tz = incident.timezone
    private = evidence.private_columns
    mine = {w.window_start for w in incident.windows}
    windows = sorted((w for w in evidence.windows if w.window_start in mine), key=lambda w: w.window_start)
    kpis = [k for w in windows for k in w.kpis if k.segment == "all"]
    breached_kpis = sorted({k.metric for k in kpis if k.level == "breach"}) if incident.cause in KPI_CAUSES else []
    if not breached_kpis:
        breached_kpis = sorted({k.metric for k in kpis if k.level == "breach"})
    first, last = _day(incident.first_window, tz), _day(incident.last_window, tz)
    span = f"the window of {first}" if first == last else f"the windows from {first} to {last}"
    n = len(incident.windows)

    what: list[str] = [f"In {span} ({n} window{'s' if n != 1 else ''}), {_WHAT.get(incident.cause, incident.cause)}."]
    headline = ""
    for metric in breached_kpis:
        figs = [k for k in kpis if k.metric == metric and k.value is not None]
        if not figs:
            continue
        k0 = figs[0]
        values = [k.value for k in figs if k.value is not None]
        wholly = sum(k.level == "breach" for k in figs)
        line = (
            f"{metric} was {_interval(k0)} in the window of {_day(k0.window_start, tz)}, against a target of "
            f"{_side(k0)} {_g(k0.target)}"
        )
        if len(figs) > 1:
            line += (
                f"; over the {len(figs)} windows it ranged from {_v(min(values))} to {_v(max(values))}, breaching its "
                f"target in {wholly} of them"
            )
        what.append(line + ".")
        headline = headline or f"{metric} {_v(k0.value)} against a target of {_side(k0)} {_g(k0.target)}"
    what.append(
        f"{_n(incident.rows)} predictions were made in the breached windows; the model kept serving them while "
        "it was breached."
    )
    cost = incident_cost_of(incident, evidence)
    if cost is not None:
        what.append(cost[1][:1].upper() + cost[1][1:] + ".")
    if incident.cause in KPI_CAUSES:
        what.append(
            f"It became known on {_when(incident.opened_at, tz)}, once the labels of the first window had matured "
            f"(a KPI is judged only on mature labels)."
        )
    else:
        what.append(f"It became known on {_when(incident.opened_at, tz)}.")
    table_rows = []
    by_start = {w.window_start: w for w in windows}
    for iw in incident.windows:
        we = by_start.get(iw.window_start)
        figs = [k for k in (we.kpis if we else ()) if k.segment == "all" and k.value is not None]
        kpi_text = (
            "; ".join(f"{k.metric} {_v(k.value)} [{_v(k.lower)}, {_v(k.upper)}]" for k in figs) or "not evaluated"
        )
        coverage = "n/a" if iw.label_coverage is None else f"{iw.label_coverage:.0%}"
        table_rows.append(
            (
                _day(iw.window_start, tz),
                _n(iw.rows),
                f"{_n(iw.labelled_rows)} ({coverage})",
                kpi_text,
                _when(iw.known_at, tz),
            )
        )
    sections = [
        Section(
            "What happened",
            tuple(what),
            table=Table(("window", "predictions", "labelled", "KPIs", "known on"), tuple(table_rows)),
        )
    ]

    evidence_bullets: list[str] = [f"Volume: {w.volume}." for w in windows if w.volume]
    evidence_table: Table | None = None
    failures = [f for w in windows for f in w.validation if f.column not in private]
    for items in _group(failures, lambda f: f.rule).values():
        worst = max(items, key=lambda f: f.share or 0.0)
        evidence_bullets.append(
            f"Validation failed: {worst.detail} (worst in the window of {_day(worst.window_start, tz)}; failed in "
            f"{len(items)} of {n} windows)."
        )
    drift = [d for w in windows for d in w.drift if d.drifted and d.column not in private]
    if drift:
        ranked = []
        for col, items in _group(drift, lambda d: d.column).items():
            top = max(items, key=lambda d: d.effect)
            ranked.append((top.effect, col, top, len(items)))
        ranked.sort(key=lambda r: -r[0])
        evidence_table = Table(
            ("feature", "drift measure", "threshold", "times the threshold", "windows drifted"),
            tuple(
                (col, f"{top.method} {_v(top.value)}", _g(top.threshold), f"{eff:.1f}", f"{cnt} of {n}")
                for eff, col, top, cnt in ranked[:15]
            ),
        )
        evidence_bullets.append(
            f"{len(ranked)} feature{'s' if len(ranked) != 1 else ''} drifted, ranked below by the size of the drift "
            f"against its threshold; the largest: {ranked[0][1]} ({ranked[0][2].method} {_v(ranked[0][2].value)}, "
            f"{ranked[0][0]:.1f} times its threshold)."
        )
    elif incident.cause in KPI_CAUSES:
        evidence_bullets.append("No feature drifted beyond its threshold in these windows.")
    segs = [
        k
        for w in windows
        for k in w.kpis
        if k.segment != "all"
        and not k.segment.startswith("model_version=")
        and _segment_column(k.segment) not in private
        and k.value is not None
    ]
    for metric in breached_kpis:
        per: dict[str, list[KpiFigure]] = _group([k for k in segs if k.metric == metric], lambda k: k.segment)
        carrying = []
        for seg, items in per.items():
            labelled = sum(k.labelled or 0 for k in items)
            mean = sum((k.value or 0.0) * (k.labelled or 0) for k in items) / labelled if labelled else None
            breached = sum(k.level == "breach" for k in items)
            if breached:
                carrying.append((mean, seg, labelled, breached, len(items), items[0]))
        if carrying:
            higher = carrying[0][5].direction == "higher_is_better"
            carrying.sort(key=lambda c: (c[0] if c[0] is not None else 0.0) * (1 if higher else -1))
            parts = [
                f"{seg} ({metric} {_v(mean)} on {_n(lab)} labelled, breached in {b} of {tot} windows)"
                for mean, seg, lab, b, tot, _ in carrying
            ]
            evidence_bullets.append(f"The segments that carry the {metric} breach, worst first: {'; '.join(parts)}.")
    drifted_segments = _segment_drift(windows, private)
    if drifted_segments:
        top = drifted_segments[0]
        words = (
            f"Inputs drifted most in {top['segment']}: {', '.join(top['features'])} ({top['windows']} of {n} windows)"
        )
        others = [f"{d['segment']} ({', '.join(d['features'])})" for d in drifted_segments[1:4]]
        words += f"; also in {'; '.join(others)}" if others else ""
        more = len(drifted_segments) - 1 - len(others)
        words += f" and {more} more segment value{'s' if more != 1 else ''}" if more > 0 else ""
        evidence_bullets.append(f"{words}. Drift per segment value is informational: it does not decide the cause.")
    for metric in breached_kpis:
        est = [k for w in windows for k in w.estimates if k.metric == metric and k.value is not None]
        if est:
            values = [k.value for k in est if k.value is not None]
            evidence_bullets.append(
                f"From the model's own confidence, {metric} would have been between {_v(min(values))} and "
                f"{_v(max(values))} in these windows: what the model expected of itself."
            )
    labelled = sum(w.labelled_rows or 0 for w in incident.windows)
    if incident.rows:
        evidence_bullets.append(
            f"Label coverage: {_n(labelled)} of {_n(incident.rows)} predictions in these windows have their outcome "
            f"({labelled / incident.rows:.0%})."
        )
    logged: dict[str, int] = {}
    for w in windows:
        for reason, count in w.failures.items():
            logged[reason] = logged.get(reason, 0) + count
    if logged:
        listed = ", ".join(f"{_n(c)} {r.replace('_', ' ')}" for r, c in sorted(logged.items(), key=lambda x: -x[1]))
        evidence_bullets.append(f"Failure samples logged for review: {listed}.")
    sections.append(Section("The evidence", (), tuple(evidence_bullets), evidence_table))
    fails = evidence.where_it_fails if incident.cause in KPI_CAUSES else None
    if fails is not None:
        fails = fails.without(private)  # a stored report may predate a column's masking: facts included
        sections.append(_where_it_fails(fails, private))

    cause_paras = [f"Cause: {CAUSE_WORDS.get(incident.cause, incident.cause)}. {_RULE.get(incident.cause, '')}"]
    if windows:
        w0 = windows[0]
        explained = [
            line.strip()
            for line in w0.summary.splitlines()[1:]
            if line.strip() and not line.startswith("- ") and not _mentions(line, private)
        ]
        cause_paras += explained
    checks = _CHECKS_OF.get(incident.cause, ())
    found = [
        f"{f.detail}"
        for f in (windows[0].findings if windows else ())
        if f.check in checks and f.level in ("breach", "note") and not _mentions(f.detail, private)
    ]
    if found:
        cause_paras.append(f"What the run of the window of {first} found:")
    sections.append(Section("The cause, and the rule that chose it", tuple(cause_paras), tuple(found)))

    done: list[str] = []
    sent = [a for a in evidence.alerts if a.status == "sent"]
    if sent:
        channels = ", ".join(sorted({a.channel for a in sent}))
        done.append(
            f"{len(sent)} alert{'s' if len(sent) != 1 else ''} sent (channels: {channels}), the first on "
            f"{_when(min(a.at for a in sent), tz)}: {sorted(sent, key=lambda a: a.at)[0].title}."
        )
    unsent = [a for a in evidence.alerts if a.status != "sent"]
    if unsent:
        done.append(
            f"{len(unsent)} alert message{'s' if len(unsent) != 1 else ''} not delivered (still in the outbox)."
        )
    if not evidence.alerts:
        done.append("No alert was sent for it (no channel took it, or alerts were off, as in a replay of history).")
    for a in incident.attempts:
        done += _attempt_words(a, tz)
    if not incident.attempts and incident.cause in ("volume", "data_quality"):
        done.append("No retrain: a retrain does not fix a thin feed or broken data; the fix is upstream.")
    sections.append(Section("What was done", (), tuple(done)))

    stands: list[str] = []
    if incident.state == "closed":
        stands.append(f"Closed on {_when(incident.closed_at, tz)}: {_cleared(incident, evidence.closing, tz)}")
    else:
        stands.append(f"Still open: {_to_close(incident.cause)}")
        pending = [a for a in incident.attempts if not a.outcome]
        if pending:
            stands.append("A retrain has started and has not ended yet.")
        waiting = [a for a in incident.attempts if a.outcome == "pending"]
        if waiting:
            stands.append(
                f"The retrained model v{waiting[-1].version} waits for the labels of the next window(s) before it "
                "may be promoted."
            )
    sections.append(Section("Where it stands", (), tuple(stands)))
    timeline = tuple((_when(e.at, tz), e.text) for e in incident.events if not _mentions(e.text, private))
    sections.append(Section("Timeline", table=Table(("when", "what"), timeline)))

    promoted = next((a for a in incident.attempts if a.outcome == "promoted"), None)
    summary = (
        f"{incident.model}: {CAUSE_WORDS.get(incident.cause, incident.cause)} in {span}"
        + (f" ({headline})" if headline else "")
        + f", {_n(incident.rows)} predictions made while breached"
        + (f"; retrained model v{promoted.version} promoted" if promoted else "")
        + (f"; closed on {_when(incident.closed_at, tz)}." if incident.state == "closed" else "; still open.")
    )
    facts: dict[str, Any] = {
        "timezone": tz,
        "first_window": iso(incident.first_window, tz),
        "last_window": iso(incident.last_window, tz),
        "windows": n,
        "predictions": incident.rows,
        "labelled": labelled,
        "opened_at": iso(incident.opened_at, tz),
        "closed_at": iso(incident.closed_at, tz),
        "kpis": {
            m: [
                {
                    "window": iso(k.window_start, tz),
                    "value": k.value,
                    "lower": k.lower,
                    "upper": k.upper,
                    "target": k.target,
                }
                for k in kpis
                if k.metric == m
            ]
            for m in breached_kpis
        },
        "retrains": [_attempt_json(a, tz) for a in incident.attempts],
        "alerts_sent": len(sent),
        "events": [
            {"at": iso(e.at, tz), "kind": e.kind, "text": localize_times(e.text, tz, as_iso=True)}
            for e in incident.events
            if not _mentions(e.text, private)
        ],
    }
    if fails is not None:
        facts["where_it_fails"] = fails.to_json()
    if drifted_segments:
        facts["segment_drift"] = drifted_segments
    if cost is not None:
        facts["cost"] = {"currency": evidence.currency, **cost[0].to_json(), "sentence": cost[1]}
    links = {_day(start, tz): href for start, href in evidence.report_paths.items() if start in mine}
    return PostMortem(incident.id, incident.model, incident.cause, incident.state, incident.title,
                      _words(summary, tz), tuple(_reworded(s, tz) for s in sections), facts, links,
                      evidence.model_page)  # fmt: skip


def _segment_drift(windows: Sequence[WindowEvidence], private: frozenset[str]) -> list[dict[str, Any]]:
    """The segment values whose features drifted in the incident's windows: most drifted features first, then
    most windows; each feature ranked by its largest drift against its threshold."""
    figures = [
        f
        for w in windows
        for f in w.segment_drift
        if f.column not in private and _segment_column(f.segment) not in private
    ]
    out = []
    for segment, items in _group(figures, lambda f: f.segment).items():
        effect: dict[str, float] = {}
        for f in items:
            effect[f.column] = max(effect.get(f.column, 0.0), f.effect)
        features = sorted(effect, key=lambda c: -effect[c])
        window_count = len({f.window_start for f in items})
        out.append((max(effect.values()), {"segment": segment, "features": features, "windows": window_count}))
    out.sort(key=lambda x: (-len(x[1]["features"]), -x[1]["windows"], -x[0], x[1]["segment"]))
    return [d for _, d in out]


def _where_it_fails(report: SliceReport, private: frozenset[str]) -> Section:
    """The slices that carried the mistakes, out of sample, and the features associated with them."""
    if report.refused:
        return Section("Where it fails", (f"Not told: {report.refused}",))
    shown = [s for s in report.slices if not _mentions(s.rule, private)]
    lines = report.lines()
    paras = tuple(line for line in lines if not line.startswith("- ") and not _mentions(line, private))
    table = None
    if shown:
        rate = report.measure
        table = Table(
            ("slice", "rows", rate, "lift over overall", "interval (Holm)"),
            tuple(
                (
                    s.rule,
                    _n(s.rows),
                    f"{s.rate:.1%}" if rate == "error rate" else _v(s.rate),
                    f"{s.lift:.2f}",
                    f"{s.lower:.2f} to {s.upper:.2f}",
                )
                for s in shown
            ),
        )
    drivers = tuple(line.removeprefix("- ") for line in report.driver_lines() if not _mentions(line, private))
    return Section("Where it fails", paras, drivers, table)


def _group(items: Iterable[Any], key: Any) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = {}
    for it in items:
        out.setdefault(key(it), []).append(it)
    return out


def _attempt_words(a: RetrainAttempt, tz: str) -> list[str]:
    out = [f"Retrain started as of {_when(a.as_of, tz)}: {a.reason or 'by hand'}."]
    if a.training_rule or a.rows:
        rows = a.rows or {}
        out.append(
            f"Trained on {a.training_rule or 'the configured rows'}: {_n(rows.get('train'))} rows, checked on "
            f"{_n(rows.get('holdout'))} held-out predictions the challenger never trained on."
        )
    metric = a.metric
    if metric and a.scores:
        ch = (a.scores.get("challenger") or {}).get(metric)
        champ = (a.scores.get("champion") or {}).get(metric)
        base = (a.scores.get("baseline") or {}).get(metric)
        on = (
            f"On {_n((a.rows or {}).get('shadow'))} labelled rows of the windows after its holdout (scored by the "
            "champion, never trained on, no part in the decision to retrain)"
            if a.decided and a.outcome in ("promoted", "kept")
            else "On the holdout"
        )
        line = f"{on}, {metric}: retrained model {_v(ch)} against the champion's {_v(champ)}"
        if base is not None:
            line += f" (a baseline scores {_v(base)})"
        if a.test:
            line += f"; {a.test} test, p = {_p(a.p_value)}"
        out.append(line + ".")
    if a.outcome == "promoted":
        out.append(f"Outcome: promoted; the retrained model v{a.version} became the champion.")
    elif a.outcome == "pending":
        out.append(
            f"Outcome: pending; v{a.version} passed on the holdout and waits, not served, for the labels of "
            f"{a.shadow_windows} later window(s): the holdout is the window whose breach started the retrain, where "
            "the champion's score is low by selection."
        )
    elif a.outcome == "expired":
        out.append(f"Outcome: expired without a decision: {a.shadow_reason or 'its shadow windows never came'}.")
    elif a.outcome:
        why = f": {'; '.join(a.reasons)}" if a.reasons else ""
        out.append(f"Outcome: {a.outcome}{why}.")
    return out


def _attempt_json(a: RetrainAttempt, tz: str) -> dict[str, Any]:
    return {
        "as_of": iso(a.as_of, tz),
        "outcome": a.outcome,
        "reason": localize_times(a.reason, tz, as_iso=True),
        "version": a.version,
        "metric": a.metric,
        "test": a.test,
        "p_value": a.p_value,
        "scores": {k: dict(v) for k, v in a.scores.items()},
        "reasons": [localize_times(r, tz, as_iso=True) for r in a.reasons],
        "training_rule": localize_times(a.training_rule, tz, as_iso=True) if a.training_rule else None,
        "shadow_windows": a.shadow_windows,
        "decided": None if a.decided is None else iso(a.decided, tz),
    }


def _cleared(incident: Incident, closing: WindowEvidence | None, tz: str) -> str:
    where = f"the window of {_day(incident.cleared_by, tz)}" if incident.cleared_by is not None else "a later window"
    if incident.cause in KPI_CAUSES:
        figs = [k for k in (closing.kpis if closing else ()) if k.segment == "all"]
        shown = ", ".join(f"{k.metric} {_v(k.value)} (target {_side(k)} {_g(k.target)})" for k in figs)
        return f"the KPIs met their targets again on mature labels in {where}" + (f": {shown}." if shown else ".")
    return {
        "volume": f"the number of predictions was back above its floor in {where}.",
        "data_quality": f"the data passed its validation rules again in {where}.",
        "input_drift": f"the inputs no longer drifted beyond the dataset rule in {where}.",
    }.get(incident.cause, f"the condition cleared in {where}.")


def _to_close(cause: str) -> str:
    return {
        "volume": "it closes when a window has enough predictions again.",
        "data_quality": "it closes when a window passes its validation rules.",
        "input_drift": "it closes when a window's drift is evaluated and does not breach the dataset rule.",
    }.get(cause, "it closes when a window's KPIs, on mature labels, meet their targets.")


def evidence_rows(rows: Sequence[Mapping[str, Any]], window_start: datetime) -> dict[str, Any]:
    """A window's KPI, validation and drift figures from its stored metric rows (dicts of the ``metrics``
    table, ``details`` parsed)."""
    kpis, validation, drift, estimates, volume, segments = [], [], [], [], [], []
    for r in rows:
        d = r.get("details") or {}
        kind = r.get("kind")
        if kind == "kpi":
            kpis.append(
                KpiFigure(
                    window_start,
                    str(r.get("name")),
                    _num(r.get("value")),
                    _num(r.get("lower")),
                    _num(r.get("upper")),
                    _num(r.get("threshold")),
                    str(r.get("direction") or "higher_is_better"),
                    d.get("labelled"),
                    d.get("level"),
                    bool(d.get("mature", True)),
                    str(r.get("segment") or "all"),
                )  # fmt: skip
            )
        elif kind == "estimate" and r.get("value") is not None:
            estimates.append(
                KpiFigure(
                    window_start,
                    str(r.get("name")),
                    _num(r.get("value")),
                    _num(r.get("lower")),
                    _num(r.get("upper")),
                    _num(r.get("threshold")),
                    str(r.get("direction") or "higher_is_better"),
                )  # fmt: skip
            )
        elif kind == "volume" and r.get("passed") is False:
            volume.append(str(d.get("note") or f"{_v(_num(r.get('value')))} rows"))
        elif kind == "validation" and r.get("passed") is False:
            col = r.get("column")
            rule = str(d.get("rule") or r.get("name"))
            validation.append(
                ValidationFailure(
                    window_start,
                    col,
                    f"{col}:{r.get('name')}",
                    str(d.get("detail") or rule),
                    _num(r.get("value")),
                    _num(r.get("threshold")),
                )  # fmt: skip
            )
        elif kind == "drift" and d.get("role") == "feature" and r.get("column"):
            drift.append(
                DriftFigure(
                    window_start,
                    str(r.get("column")),
                    str(r.get("name")),
                    _num(r.get("value")),
                    _num(r.get("threshold")),
                    r.get("passed") is False,
                )  # fmt: skip
            )
        elif kind == "segment_drift" and r.get("passed") is False and r.get("column") and r.get("segment"):
            segments.append(
                SegmentDriftFigure(
                    window_start,
                    str(r.get("segment")),
                    str(r.get("column")),
                    str(r.get("name")),
                    _num(r.get("value")),
                    _num(r.get("threshold")),
                )  # fmt: skip
            )
    return {
        "segment_drift": tuple(segments),
        "kpis": tuple(kpis),
        "validation": tuple(validation),
        "drift": tuple(drift),
        "estimates": tuple(estimates),
        "volume": volume[0] if volume else None,
    }


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f
