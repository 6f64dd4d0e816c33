"""A model's page: its history over time (one point per window, Plotly charts) and its latest window in detail,
one self-contained HTML file (Plotly's script inside it: it opens from disk with no network).

Everything on it is read back from the store and the registry; nothing of the production rows but the failure
samples the store already keeps (masked and excluded columns never shown). Every value from data is escaped:
in HTML with ``html.escape``, in the charts' JSON by ``\\u003c`` for ``<`` (no ``</script>`` can close the
script it sits in), and in the charts' labels by HTML entities (Plotly reads its labels as a little HTML)."""

from __future__ import annotations

import html
import json
import logging
from typing import Any

import pandas as pd

from driftwarden.checks.records import redact
from driftwarden.checks.slices import SliceReport, slices_html
from driftwarden.checks.stress import summary_line
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import files as report_files
from driftwarden.flows import store
from driftwarden.flows.registry.versions import Registry
from driftwarden.flows.reports.charts import (
    LEVEL_COLOURS,
    STATUS_COLOURS,
    Chart,
    day,
    fmt,
    model_charts,
    num,
    utc,
)
from driftwarden.flows.reports.history import History
from driftwarden.flows.store import alerts as alert_store
from driftwarden.flows.store import incidents as incident_store

log = logging.getLogger(__name__)

PAGE_NAME = "model.html"
"""The model page's name inside the model's reports folder (``<reports>/<model>/model.html``)."""

STATUS_WORDS = {
    "ok": "OK: working as expected",
    "warning": "WARNING: signals below the breach rules",
    "breach": "BREACH: a target or a rule is missed",
    "failed": "FAILED: the last run could not be completed",
    "never run": "NOT RUN YET",
}
CAUSE_WORDS = {
    "data_quality": "data quality: the input data is broken (missing values, unknown categories, values out of range)",
    "input_drift": "input drift: the inputs moved away from what the model was trained on",
    "concept_change": "concept change: the inputs look as before, but the relationship the model learned changed",
    "volume": "volume: far fewer or more predictions than usual",
    "undetermined": "undetermined: the model got worse and the data could not show why",
}


def model_page_path(cfg: ModelConfig) -> str:
    """Where a model's page lives: its reports folder, beside its run pages."""
    return report_files.join(get_settings().resolved_reports_dir(), cfg.name, PAGE_NAME)


def refresh_model_page(cfg: ModelConfig, store_url: str) -> str | None:
    """Write the model page from the store; return its path, or None when it could not be written (the page
    is a courtesy: it never fails a run whose verdict is stored)."""
    try:
        return write_model_page(cfg, store_url, model_page_path(cfg))
    except Exception as exc:
        log.warning("%s: the model page could not be written: %s", cfg.name, exc)
        return None


def write_model_page(cfg: ModelConfig, store_url: str, out: str) -> str:
    """Write the page of one model to ``out`` (a path or fsspec URL) and return it."""
    history = gather(cfg, store_url)
    return report_files.write_text(out, render(cfg, history, out))


# --- what the page reads ---------------------------------------------------------------------------------


def gather(cfg: ModelConfig, store_url: str) -> History:
    engine = store.open_store(store_url)
    runs = store.latest_runs(engine, cfg.name)
    metrics = store.run_metrics(engine, [int(i) for i in runs["id"]]) if len(runs) else pd.DataFrame()
    if len(metrics):
        metrics["details"] = metrics["details"].map(lambda d: json.loads(d) if d else {})
    counts = store.failure_counts(engine, cfg.name)
    samples = pd.DataFrame()
    if len(runs):
        last_start = runs.iloc[-1]["window_start"]
        samples = store.failure_log(engine, cfg.name, since=last_start).head(12)
    registry = Registry(cfg)
    champion = registry.champion()
    return History(
        runs=runs,
        metrics=metrics,
        failure_counts=counts,
        samples=samples,
        events=_events(cfg, engine, registry),
        incidents=incident_store.list_incidents(engine, cfg.name),
        champion=None if champion is None else f"v{champion.number}",
        reviews=_reviews(cfg, store_url, runs),
    )


REVIEWED_PERIODS = 6


def _reviews(cfg: ModelConfig, store_url: str, runs: pd.DataFrame) -> list[Any]:
    """The objectives' reviews of the last periods that hold a window (weeks or quarters, as each objective is
    reviewed): attainment of each key result and the cost, as `driftwarden review` gives them."""
    from driftwarden.checks.objectives import period_of
    from driftwarden.flows.reports import review

    if runs.empty or not cfg.objectives:
        return []
    tz = cfg.window.timezone
    out = []
    for kind in sorted({o.period for o in cfg.objectives}):
        periods = {period_of(utc(s), kind, tz).label: period_of(utc(s), kind, tz) for s in runs["window_start"]}
        for label in sorted(periods, reverse=True)[:REVIEWED_PERIODS]:
            out.append(review.gather(cfg, store_url, periods[label], refresh=False))
    return out


def _events(cfg: ModelConfig, engine: Any, registry: Registry) -> list[dict[str, Any]]:
    """What happened to the model beside its windows, on the windows' time line: alerts sent (at the window
    they were about), mutes, retrains with the figures of their decision, promotions and rollbacks."""
    events: list[dict[str, Any]] = []
    sent = alert_store.outbox_rows(engine, cfg.name, statuses=("sent", "pending", "dead"))
    for _, r in sent.iterrows():
        payload = json.loads(r["payload"]) if r["payload"] else {}
        when = payload.get("window_start") or r["created_at"]
        kind = "resolved" if payload.get("kind") == "resolved" else "alert"
        state = {"sent": "sent", "pending": "waiting in the outbox", "dead": "could not be delivered"}[r["status"]]
        events.append(
            {
                "at": utc(when),
                "kind": f"{kind} {state}" if r["status"] != "sent" else f"{kind} sent",
                "text": f"{payload.get('title') or kind} (to {r['channel']})",
            }
        )
    for _, r in alert_store.all_mutes(engine, cfg.name).iterrows():
        events.append(
            {
                "at": utc(r["created_at"]),
                "kind": "mute",
                "text": f"{r['check_name']}/{r['subject']} muted until {utc(r['until']):%Y-%m-%d %H:%M}: {r['reason']}",
            }
        )
    for a in registry.attempts():
        at = utc(a.get("as_of") or a.get("started_at"))
        outcome = a.get("outcome") or "started"
        events.append({"at": at, "kind": "retrain", "text": f"retrain started: {a.get('reason', '')}"})
        figures = _attempt_figures(a)
        shadow = a.get("shadow") or {}
        if shadow:  # it passed on the retrain's holdout, then waited for windows that did not choose the champion
            held = _attempt_figures({**a, **(a.get("retrain_holdout") or {}), "shadow": None})  # the holdout's own
            events.append(
                {
                    "at": at,
                    "kind": "retrain",
                    "text": f"v{a.get('version')} passed on the retrain's holdout ({held}) and waits for "
                    f"{shadow.get('windows')} shadow window(s) of labels before any promotion",
                }
            )
            if shadow.get("decided_as_of"):
                at = utc(shadow["decided_as_of"])
            if outcome == "expired":
                events.append(
                    {"at": at, "kind": "refusal", "text": f"v{a.get('version')} expired: {shadow.get('reason')}"}
                )
                continue
        if outcome == "pending":
            continue
        if outcome == "promoted":
            events.append({"at": at, "kind": "promotion", "text": f"v{a.get('version')} promoted. {figures}".strip()})
        elif outcome in ("refused", "rejected", "kept"):
            events.append({"at": at, "kind": "refusal", "text": f"challenger refused. {figures}".strip()})
        elif outcome not in ("started",):
            events.append({"at": at, "kind": "refusal", "text": f"retrain {outcome}. {figures}".strip()})
    for h in registry.aliases().get("history", [])[1:]:
        if "rollback" in str(h.get("reason", "")).lower():
            events.append({"at": utc(h.get("at")), "kind": "rollback", "text": f"v{h['champion']}: {h['reason']}"})
    return sorted(events, key=lambda e: e["at"])


def _count(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else "?"


def _attempt_figures(a: dict[str, Any]) -> str:
    """The holdout comparison of a retrain in one line: 'holdout roc_auc 0.919 vs champion 0.733 (DeLong ...)'."""
    scores = a.get("holdout_scores") or {}
    metric = a.get("metric")
    ch, champ = (scores.get("challenger") or {}).get(metric), (scores.get("champion") or {}).get(metric)
    parts = []
    shadow = a.get("shadow") or {}
    if isinstance(ch, int | float) and isinstance(champ, int | float) and shadow.get("scores"):
        parts.append(f"On {_count(shadow.get('rows'))} rows of the shadow windows after its holdout (never trained "
                     f"on, no part in the retrain's decision), {metric} {ch:.3f} (challenger) vs {champ:.3f} "
                     "(champion)")  # fmt: skip
    elif isinstance(ch, int | float) and isinstance(champ, int | float):
        parts.append(f"On {_count(a.get('rows', {}).get('holdout'))} holdout rows it never trained on, {metric} "
                     f"{ch:.3f} (challenger) vs {champ:.3f} (champion)")  # fmt: skip
    if a.get("p_value") is not None:
        parts.append(f"{a.get('test')}: p = {a['p_value']:.2g}")
    elif a.get("reasons"):  # a refusal's reasons say which rule the challenger failed
        parts.append("; ".join(str(r) for r in a["reasons"]))
    if a.get("stress") and summary_line(a["stress"]):  # the robustness table in a line: the worst perturbation
        parts.append(summary_line(a["stress"]))
    return ". ".join(parts)


# --- per window -----------------------------------------------------------------------------------------


def _private(cfg: ModelConfig) -> set[str]:
    return set(cfg.failures.mask) | set(cfg.failures.exclude)


def status_since(runs: pd.DataFrame, tz: str) -> tuple[str, int]:
    """Since which window the model has had its latest status, and for how many windows."""
    statuses = list(runs["status"])
    last = statuses[-1]
    n = 0
    for s in reversed(statuses):
        if s != last:
            break
        n += 1
    return day(runs.iloc[len(statuses) - n]["window_start"], tz), n


# --- the page -------------------------------------------------------------------------------------------


def render(cfg: ModelConfig, history: History, out: str) -> str:
    name = html.escape(cfg.name)
    if history.runs.empty:
        body = f"<h1>{name}</h1><p class=lead>No window of this model has been monitored yet.</p>"
        return _document(f"{cfg.name}: not run yet", body, charts=[])
    charts = model_charts(cfg, history)
    body = "".join(
        [
            _header(cfg, history),
            _incidents_section(cfg, history, out),
            _objectives_section(cfg, history, out),
            _where_it_fails_section(cfg, history),
            "<h2>Over time</h2>",
            "<p class=note>One point per monitored window (its current result: KPIs are re-scored as labels "
            "arrive). Hover a point for its figures.</p>",
            "".join(
                f"<section class=chart><h3>{html.escape(c.title)}</h3><p class=note>{html.escape(c.caption)}</p>"
                f'<div id="{c.id}" class="plot" data-points="{c.points}"></div></section>'
                for c in charts
            ),
            _events_section(cfg, history),
            _latest_section(cfg, history, out),
        ]
    )
    return _document(f"{cfg.name}: model page", body, charts)


def _header(cfg: ModelConfig, history: History) -> str:
    tz = cfg.window.timezone
    runs = history.runs
    last = runs.iloc[-1]
    status = str(last["status"])
    causes = json.loads(last["causes"]) if last["causes"] else []
    since, n = status_since(runs, tz)
    colour = STATUS_COLOURS.get(status, "#57606a")
    lines = redact(str(last["summary"] or last["error"] or ""), _private(cfg)).splitlines()
    headline = lines[0] if lines else ""
    cause_words = "".join(f"<li>{html.escape(CAUSE_WORDS.get(c, c))}</li>" for c in causes)
    breached = int((runs["status"] == "breach").sum())
    targets = ", ".join(f"{k.metric} {'≥' if _higher(k.metric) else '≤'} {k.target:g}" for k in cfg.kpis)
    action = _last_action(cfg, history)
    return f"""<header>
<p class=crumb>driftwarden · model page · written {history.now.tz_convert(tz):%Y-%m-%d %H:%M %Z}</p>
<h1>{html.escape(cfg.name)}</h1>
<div class="banner" style="border-color:{colour}">
 <div class="status" id="status" style="background:{colour}">{html.escape(status.upper())}</div>
 <div>
  <p class=lead><b>{html.escape(STATUS_WORDS.get(status, status))}</b> — <span id="since">{html.escape(status)} since
  {html.escape(since)}</span> ({n} window{"s" if n != 1 else ""} in a row); last window
  {html.escape(day(last["window_start"], tz))}.</p>
  <p>{html.escape(headline)}</p>
  {f"<ul class=causes>{cause_words}</ul>" if cause_words else ""}
  <p id="last-action"><b>Last action:</b> {html.escape(action)}</p>
 </div>
</div>
<p class=note>{len(runs)} windows monitored from {html.escape(day(runs.iloc[0]["window_start"], tz))} to
{html.escape(day(last["window_end"], tz))} ({html.escape(cfg.window.timezone)}); {breached} breached. Targets:
{html.escape(targets or "none configured")}. Champion: {html.escape(history.champion or "—")}.</p>
</header>"""


def _higher(metric: str) -> bool:
    from driftwarden.config.model import METRICS

    return METRICS[metric].direction == "higher_is_better"


def _last_action(cfg: ModelConfig, history: History) -> str:
    """The newest thing done about the model: a promotion, a retrain, an alert, a mute; else nothing."""
    if history.events:
        e = history.events[-1]
        return f"{e['text']} ({day(e['at'], cfg.window.timezone)})"
    return "none needed so far: no alert was sent and no retrain was started"


def _incidents_section(cfg: ModelConfig, history: History, out: str) -> str:
    inc = history.incidents
    if inc is None or inc.empty:
        return "<h2>Incidents</h2><p>No incident: no window has breached a rule.</p>"
    tz = cfg.window.timezone
    rows = []
    for _, r in inc.sort_values("first_window", ascending=False).iterrows():
        link = _relative(out, r.get("html_path"))
        title = html.escape(str(r["title"]))
        title = f'<a href="{html.escape(link)}">{title}</a>' if link else title
        closed = "—" if r.get("closed_at") is None or pd.isna(r.get("closed_at")) else day(r["closed_at"], tz)
        rows.append(
            f"<tr class='{html.escape(str(r['state']))}'><td>{html.escape(str(r['state']))}</td><td>{title}<br>"
            f"<span class=note>{html.escape(str(r.get('summary') or ''))}</span></td>"
            f"<td>{html.escape(str(r['cause']))}</td><td>{html.escape(day(r['first_window'], tz))} – "
            f"{html.escape(day(r['last_window'], tz))}</td><td>{html.escape(day(r['opened_at'], tz))}</td>"
            f"<td>{html.escape(closed)}</td></tr>"
        )
    open_n = int((inc["state"] == "open").sum())
    return (
        f"<h2>Incidents</h2><p>{len(inc)} incident{'s' if len(inc) != 1 else ''}, {open_n} open. Each has a "
        "post-mortem: what happened, the evidence, the cause, what was done.</p>"
        "<table id=incidents><tr><th>state</th><th>incident</th><th>cause</th><th>windows</th><th>known</th>"
        f"<th>closed</th></tr>{''.join(rows)}</table>"
    )


def _objectives_section(cfg: ModelConfig, history: History, out: str) -> str:
    """Each objective's key results, attained or not, over the last periods (the review's figures), and what the
    model's decisions cost in each."""
    if not history.reviews:
        return ""
    rows = []
    for r in history.reviews:
        review_file = report_files.join(out.rsplit("/", 1)[0], "reviews", f"{r.period.label}.md")
        label = html.escape(r.period.label)
        if report_files.exists(review_file):
            label = f'<a href="reviews/{html.escape(r.period.label)}.md">{label}</a>'
        cost = ""
        if r.cost is not None and r.cost[0].windows:
            cost = f"{r.cost[0].total:,.0f} {html.escape(r.currency)}"
        for o in r.objectives:
            for k in o.key_results:
                share = "—" if k.attainment is None else f"{k.attainment:.0%} ({len(k.met)} of {k.evaluated})"
                verdict = "no evaluated window" if k.attained is None else "attained" if k.attained else "below the bar"
                cls = "bad" if k.attained is False else ""
                verdict += " (provisional: labels still arriving)" if k.provisional else ""
                side = "≥" if k.direction == "higher_is_better" else "≤"
                per = (
                    f" a {r.unit.rstrip('s')}"
                    if k.per == "window"
                    else f" a {r.period.kind}"
                    if k.per == "period"
                    else ""
                )
                rows.append(
                    f"<tr class='{cls}'><td>{label}</td><td>{html.escape(o.objective)}</td>"
                    f"<td>{html.escape(k.kpi)} {side} {k.target:,.6g}{html.escape(per)}</td><td>{share}</td>"
                    f"<td>{html.escape(verdict)}</td><td>{len(k.not_evaluated)}</td><td>{cost}</td></tr>"
                )
    if not rows:
        return ""
    return (
        "<h2>Objectives</h2><p>Attainment of each key result: the share of its evaluated windows that met it "
        f"(the bar: {', '.join(f'{o.success:.0%}' for o in cfg.objectives)}); windows not evaluated are never counted "
        "as met. <code>driftwarden review</code> gives a period in full.</p><table id=objectives><tr><th>period</th>"
        "<th>objective</th><th>key result</th><th>attainment</th><th>verdict</th><th>not evaluated</th>"
        f"<th>cost of decisions</th></tr>{''.join(rows)}</table>"
    )


def _where_it_fails_section(cfg: ModelConfig, history: History) -> str:
    """The slices that carried the mistakes during the latest incident with a KPI cause, as its post-mortem
    stored them (learned on its older windows, checked on its newer ones)."""
    inc = history.incidents
    if inc is None or inc.empty:
        return ""
    for _, r in inc.sort_values("first_window", ascending=False).iterrows():
        doc = json.loads(r["document"]) if isinstance(r["document"], str) and r["document"] else {}
        found = (doc.get("facts") or {}).get("where_it_fails")
        if found:
            report = SliceReport.from_json(found).without(_private(cfg))  # stored before a column was masked
            fragment = slices_html([report], heading=f"Where it failed: {r['title']}")
            return fragment + "<p class=note><code>driftwarden errors</code> finds the slices of any period.</p>"
    return ""


def _relative(out: str, target: Any) -> str | None:
    """A link from the page to a file the reports folder holds (a run page, a post-mortem): relative when both
    are in the same tree, so the folder can be moved or served; else the target as it is."""
    if not target or (isinstance(target, float) and pd.isna(target)):
        return None
    target = str(target)
    base = out.rsplit("/", 1)[0] + "/"
    if target.startswith(base):
        return target[len(base) :]
    if "://" in target:
        return target
    return "file://" + target


def _events_section(cfg: ModelConfig, history: History) -> str:
    if not history.events:
        return "<h2>What was done</h2><p>No alert, mute, retrain or promotion so far.</p>"
    tz = cfg.window.timezone
    rows = "".join(
        f"<tr><td>{html.escape(day(e['at'], tz))}</td><td>{html.escape(e['kind'])}</td>"
        f"<td>{html.escape(e['text'])}</td></tr>"
        for e in reversed(history.events)
    )
    return f"<h2>What was done</h2><table id=actions><tr><th>when</th><th>what</th><th>details</th></tr>{rows}</table>"


def _latest_section(cfg: ModelConfig, history: History, out: str) -> str:
    tz = cfg.window.timezone
    last = history.runs.iloc[-1]
    run_id = int(last["id"])
    m = history.metrics[history.metrics["run_id"] == run_id] if len(history.metrics) else history.metrics
    private = _private(cfg)
    parts = [
        f"<h2>The latest window: {html.escape(day(last['window_start'], tz))} – "
        f"{html.escape(day(last['window_end'], tz))}</h2>"
    ]
    parts.append(
        f"<p>{_int(last['rows'])} predictions, {_int(last['labelled_rows'])} with their label so far "
        f"({_pct(last['label_coverage'])}); run version {int(last['run_version'])}, labels known as of "
        f"{html.escape(day(last['as_of'], tz) if last['as_of'] is not None else '—')}.</p>"
    )
    said = redact(str(last["summary"] or last["error"] or ""), private)
    parts.append(f"<pre class=summary>{html.escape(said)}</pre>")
    links = []
    page = _relative(out, last["report_uri"])
    if page:
        links.append(f'<a href="{html.escape(page)}">the run page (every check of this window)</a>')
        evidently = report_files.sibling(str(last["report_uri"]), report_files.stem(str(last["report_uri"])))
        evidently += "-evidently.html"
        if report_files.exists(evidently):
            links.append(f'<a href="{html.escape(_relative(out, evidently) or "")}">its Evidently drift report</a>')
    if links:
        parts.append(f"<p>Evidence: {' · '.join(links)}.</p>")
    parts.append(_kpi_table(cfg, m))
    parts.append(_drift_table(m, private))
    parts.append(_segment_drift_table(m, private))
    parts.append(_validation_table(m, private))
    parts.append(_failure_table(cfg, history.samples, private))
    return "".join(parts)


def _int(v: Any) -> str:
    return "—" if v is None or pd.isna(v) else f"{int(v):,}"


def _pct(v: Any) -> str:
    return "—" if v is None or pd.isna(v) else f"{float(v):.0%}"


def _kpi_table(cfg: ModelConfig, m: pd.DataFrame) -> str:
    if m.empty:
        return ""
    kpis = m[m["kind"] == "kpi"]
    est = m[m["kind"] == "estimate"].set_index("name") if len(m) else m
    if kpis.empty:
        return "<h3>KPIs</h3><p>No KPI was evaluated for this window.</p>"
    rows = []
    for _, r in kpis.sort_values(["segment", "name"], key=lambda s: s.map(lambda v: (v != "all", v))).iterrows():
        level = r["details"].get("level") or "not_evaluated"
        colour = LEVEL_COLOURS.get(level, "#57606a")
        interval = "—" if num(r["lower"]) is None else f"[{fmt(r['lower'])}, {fmt(r['upper'])}]"
        estimate = ""
        if r["segment"] == "all" and r["name"] in est.index:
            e = est.loc[r["name"]]
            estimate = "n/e" if num(e["value"]) is None else f"{fmt(e['value'])} [{fmt(e['lower'])}, {fmt(e['upper'])}]"
        rows.append(
            f"<tr><td>{html.escape(str(r['segment']))}</td><td>{html.escape(str(r['name']))}</td>"
            f"<td>{fmt(r['value'])}</td><td>{interval}</td><td>{fmt(r['threshold'])}</td>"
            f"<td style='color:{colour}'><b>{html.escape(level.replace('_', ' '))}</b></td>"
            f"<td>{_int(r['details'].get('labelled'))}</td><td>{html.escape(estimate)}</td></tr>"
        )
    return (
        "<h3>KPIs against target (overall, per segment, per model version)</h3><table class=kpis id=kpis><tr>"
        "<th>segment</th><th>KPI</th><th>value</th><th>95% interval</th><th>target</th><th>verdict</th>"
        f"<th>labelled rows</th><th>estimated before labels</th></tr>{''.join(rows)}</table>"
    )


def _drift_table(m: pd.DataFrame, private: set[str]) -> str:
    d = m[(m["kind"] == "drift")] if len(m) else m
    if d.empty:
        return ""
    share = d[d["name"] == "dataset_share"]
    cols = d[(d["name"] != "dataset_share") & (~d["column"].isin(private))].copy()
    cols["ratio"] = [(num(v) or 0) / t if t else 0 for v, t in zip(cols["value"], cols["threshold"], strict=True)]
    cols = cols.sort_values(["passed", "ratio"], ascending=[True, False])
    rows = "".join(
        f"<tr class='{'bad' if _drifted(r['passed']) else ''}'><td>{html.escape(str(r['column']))}</td>"
        f"<td>{html.escape(str(r['details'].get('role', '')))}</td><td>{html.escape(str(r['name']))}</td>"
        f"<td>{fmt(r['value'], 4)}</td><td>{fmt(r['threshold'], 3)}</td><td>{_drift_word(r['passed'])}</td></tr>"
        for _, r in cols.iterrows()
    )
    note = html.escape(str(share.iloc[0]["details"].get("note", ""))) if len(share) else ""
    return (
        f"<h3>Drift against the reference</h3><p>{note}</p><table id=drift><tr><th>column</th><th>role</th>"
        f"<th>method</th><th>score</th><th>threshold</th><th>drifted</th></tr>{rows}</table>"
    )


def _segment_drift_table(m: pd.DataFrame, private: set[str]) -> str:
    """One line a segment value: its rows, the features evaluated there and those that drifted (informational:
    no part of the window's verdict)."""
    d = m[m["kind"] == "segment_drift"] if len(m) else m
    if d.empty:
        return ""
    cells = d[(d["details"].map(lambda x: x.get("role")) == "feature") & (~d["column"].isin(private))]
    lines = []
    for segment, group in cells.groupby("segment", sort=False):
        evaluated = group[group["passed"].map(lambda p: p is not None and not pd.isna(p))]
        hit = [str(c) for c, p in zip(group["column"], group["passed"], strict=True) if _drifted(p)]
        rows = max((int(x.get("rows") or 0) for x in group["details"]), default=0)
        lines.append((-len(hit), str(segment), rows, len(evaluated), len(group), hit))
    lines.sort(key=lambda x: (x[0], x[1]))
    body = "".join(
        f"<tr class='{'bad' if hit else ''}'><td>{html.escape(seg)}</td><td>{rows:,}</td><td>{ev} of {n}</td>"
        f"<td>{html.escape(', '.join(hit)) if hit else ('none' if ev else 'not evaluated')}</td></tr>"
        for _, seg, rows, ev, n, hit in lines
    )
    left = d[d["details"].map(lambda x: x.get("role")) == "left_out"]
    notes = "".join(f"<p>{html.escape(str(x.get('note', '')))}.</p>" for x in left["details"])
    return (
        "<h3>Drift per segment</h3><p>Each feature in each segment value's rows against the reference's rows of that "
        "value (Holm across them all; informational, not part of the verdict).</p><table id=segment-drift><tr>"
        f"<th>segment</th><th>rows</th><th>features evaluated</th><th>drifted</th></tr>{body}</table>{notes}"
    )


def _drifted(passed: Any) -> bool:
    return passed is not None and not pd.isna(passed) and not bool(passed)


def _drift_word(passed: Any) -> str:
    if passed is None or pd.isna(passed):
        return "not evaluated"
    return "no" if bool(passed) else "drifted"


def _validation_table(m: pd.DataFrame, private: set[str]) -> str:
    v = m[m["kind"] == "validation"] if len(m) else m
    if v.empty:
        return ""
    v = v[~v["column"].isin(private)]
    failed = v[v["passed"] == 0]
    rows = "".join(
        f"<tr class='{'bad' if r['passed'] == 0 else ''}'><td>{html.escape(str(r['column']))}</td>"
        f"<td>{html.escape(str(r['details'].get('detail') or r['details'].get('rule') or r['name']))}</td>"
        f"<td>{'failed' if r['passed'] == 0 else 'passed'}</td></tr>"
        for _, r in pd.concat([failed, v[v["passed"] != 0]]).iterrows()
    )
    head = f"{len(failed)} of {len(v)} rules failed" if len(failed) else f"all {len(v)} rules passed"
    return (
        f"<h3>Validation (Great Expectations)</h3><p>{head}.</p><details {'open' if len(failed) else ''}>"
        f"<summary>the rules</summary><table id=validation><tr><th>column</th><th>rule and result</th>"
        f"<th>verdict</th></tr>{rows}</table></details>"
    )


def _failure_table(cfg: ModelConfig, samples: pd.DataFrame, private: set[str]) -> str:
    if samples is None or samples.empty:
        return "<h3>Failure samples</h3><p>No failure sample was logged for this window.</p>"
    feats = [json.loads(f) if f else {} for f in samples["features"]]
    columns = [c for c in cfg.columns.features if c not in private]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = "".join(
        f"<tr><td>{html.escape(str(r['reason']))}</td><td>{html.escape(redact(str(r['detail'] or ''), private))}</td>"
        f"<td>{html.escape(str(r['prediction']))}</td><td>{html.escape(str(r['label']))}</td>"
        + "".join(f"<td>{html.escape(_cell(f.get(c)))}</td>" for c in columns)
        + "</tr>"
        for (_, r), f in zip(samples.iterrows(), feats, strict=True)
    )
    return (
        f"<h3>Failure samples that illustrate it</h3><p class=note>The first {len(samples)} of the window's "
        "failure log (<code>driftwarden failures</code> lists and exports them all).</p><div class=scroll>"
        f"<table id=failures><tr><th>reason</th><th>detail</th><th>prediction</th><th>label</th>{head}</tr>"
        f"{rows}</table></div>"
    )


def _cell(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _figure_json(fig: Any) -> str:
    """The figure as JSON safe inside a <script>: no ``<``, ``>`` or ``&`` left to end it or open a tag."""
    import plotly.io as pio

    text = pio.to_json(fig, validate=False, pretty=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _document(title: str, body: str, charts: list[Chart]) -> str:
    script = ""
    if charts:
        calls = "\n".join(
            f'Plotly.newPlot("{c.id}", ...figure({_figure_json(c.figure)}), {{displaylogo:false,responsive:true}});'
            for c in charts
        )
        script = (
            f"<script>{_plotly_js()}</script>\n<script>\nfunction figure(f){{return [f.data, f.layout];}}\n"
            f"{calls}\n</script>"
        )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>
<style>{CSS}</style></head><body>{body}{script}</body></html>"""


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1em 1.5em;
color:#24292f;line-height:1.45}
h1{margin:.2em 0}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}h3{margin:1.2em 0 .3em}
.crumb,.note{color:#57606a;font-size:.9em}.lead{font-size:1.1em;margin:.2em 0}
.banner{display:flex;gap:1em;border-left:8px solid;padding:.6em 1em;background:#f6f8fa;border-radius:6px}
.status{color:#fff;font-weight:700;padding:.4em .8em;border-radius:4px;align-self:flex-start;font-size:1.2em}
table{border-collapse:collapse;font-size:.9em;margin:.4em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}tr.bad td,tr.open td:first-child{color:#c62828;font-weight:600}
.scroll{overflow-x:auto}pre.summary{white-space:pre-wrap;background:#f6f8fa;padding:.6em;border-radius:6px}
.plot{width:100%;min-height:320px}ul.causes{margin:.2em 0}
"""
