"""Evidence of a run: an Evidently HTML drift report on a bounded, seeded sample, and a summary page
that states the sample size and shows the full-data verdicts driftwarden decided on. Evidently's pages load
its script and font from one copy in the model's reports folder, ``assets/`` (~0.25 MB a page, not ~4 MB)."""

from __future__ import annotations

import html
import json
import logging
import math
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import pandas as pd

from driftwarden.checks.drift import auto_method, get_method
from driftwarden.checks.profile import ReferenceProfile
from driftwarden.config.model import ModelConfig
from driftwarden.flows import files as report_files

log = logging.getLogger(__name__)


def write_reports(
    cfg: ModelConfig,
    sample: pd.DataFrame,
    rows: int,
    profile: ReferenceProfile,
    out_dir: str,
    stem: str,
    window_label: str,
    summary: str,
    metric_rows: list[dict[str, Any]],
    *,
    evidently: bool = True,
) -> str:
    """Write the run's page ``<stem>.html`` into a folder or fsspec URL and, when ``evidently``, Evidently's
    drift report ``<stem>-evidently.html`` beside it; return the page's path or URL. ``sample`` is the seeded
    sample of the window's ``rows`` rows; the reference side is drawn from the stored profile, as many rows.
    Without ``evidently`` nothing of Evidently is imported or drawn, and the page says so."""
    page = report_files.join(out_dir, f"{stem}.html")
    if not evidently:
        return write_page(page, cfg, window_label, summary, metric_rows, _no_evidently_note(window_label))
    reference = profile.draw(cfg.columns.features, max(len(sample), 1))
    columns, left_out = report_columns(cfg, sample, reference)
    evidently_name = f"{stem}-evidently.html"
    note = "<p>Too few rows for an Evidently report.</p>"
    if len(sample) >= 2 and len(reference) >= 2 and columns:
        try:
            text = _evidently_html(cfg, columns, sample, reference, out_dir)
            report_files.write_text(report_files.join(out_dir, evidently_name), text)
        except Exception as exc:  # the evidence is a courtesy: it never fails a run whose verdict is made
            log.warning("%s: the Evidently report could not be rendered: %s", cfg.name, exc)
            note = f"<p>The Evidently report could not be rendered: {html.escape(f'{type(exc).__name__}: {exc}')}</p>"
        else:
            note = (
                f'<p><a href="{html.escape(evidently_name)}">Evidently drift report</a>, rendered on a seeded sample '
                f"of {len(sample):,} of the window's {rows:,} rows and {len(reference):,} rows drawn from the "
                f"reference profile (of {profile.rows:,}); its own per-column verdicts may differ from the full-data "
                "ones on this page, which are the ones that count.</p>"
            )
    private = [c for c in left_out if c.endswith("(masked or excluded)")]
    named = [c for c in left_out if c not in private]
    if private:  # counted, not named: the page never names a masked or excluded column
        named.append(f"{len(private)} masked or excluded column{'s' if len(private) > 1 else ''}")
    if named:
        note += f"<p>Not in the Evidently report: {html.escape(', '.join(named))}.</p>"
    return write_page(page, cfg, window_label, summary, metric_rows, note)


def _no_evidently_note(window_label: str) -> str:
    """Why a page has no Evidently report, and the command that draws one (the window's end, from its label)."""
    end = window_label.rpartition(" .. ")[2] if " .. " in window_label else "<the window's end>"
    command = f"driftwarden run --config <the model's YAML> --window-end {end} --evidently"
    return (
        "<p>No Evidently drift report for this window: it had no finding, and the report is drawn for windows "
        "with a finding (and for the last window of a backfill); every check on this page is on the full window. "
        f"<code>{html.escape(command)}</code> draws it for this window.</p>"
    )


def write_page(
    path: str, cfg: ModelConfig, window_label: str, summary: str, metric_rows: list[dict[str, Any]], note: str
) -> str:
    """A run's page (a file path or fsspec URL), for a product owner and an on-call engineer: the status and its
    cause in words first, the findings, then the evidence grouped by check, each group a one-line verdict over a
    table of what matters. ``note`` is trusted HTML from the caller (the Evidently link, or why there is none);
    everything from data is escaped. Masked and excluded columns (PII) are counted, never named."""
    private = set(cfg.failures.mask) | set(cfg.failures.exclude)
    metric_rows = _one_per_check(metric_rows)
    rows = [m for m in metric_rows if not _is_private(m, private)]
    hidden = [m for m in metric_rows if _is_private(m, private)]
    verdict = _read_summary(_redact(summary, private))
    groups = [
        g
        for g in (
            _kpi_group(rows),
            _estimate_group(rows),
            _volume_group(rows),
            _validation_group(rows, cfg, hidden),
            _drift_group(rows, hidden),
            _segment_drift_group(rows),
            _multivariate_group(rows),
            _output_drift_group(rows),
        )
        if g is not None
    ]
    window = _window_words(window_label, cfg.window.timezone)
    title = f"{_STATUS_WORDS.get(verdict.status, 'Run')} · {cfg.name} · {window}"
    return report_files.write_text(path, _render(cfg.name, window, title, verdict, groups, note))


def _one_per_check(metric_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each check once. A re-scored window's page is handed the re-score's own rows (fresh: no ``run_id``) and
    the rows stored for the version it re-scores (with their ``run_id``); where both hold the same check (an
    estimate, the target's drift) the page shows the re-score's, which are of the labels known now, and among
    stored rows the latest run's. Rows of one origin are never dropped (a run's rows stand as recorded), and
    the order stays as handed in. A check is its kind, name, column, segment and role; a column's drift is
    its column and role whatever the method that measured it (``auto`` may choose another as labels grow)."""

    def origin(m: dict[str, Any]) -> float:
        run_id = m.get("run_id")
        return math.inf if run_id is None or run_id != run_id else float(run_id)  # None, NaN: not stored

    def known(v: Any) -> Any:
        return None if v is None or v != v else v  # NaN: a null read back from the store

    def key(m: dict[str, Any]) -> tuple[Any, ...]:
        column = known(m.get("column"))
        name = None if m["kind"] in ("drift", "target_drift") and column else known(m.get("name"))
        return m["kind"], name, column, known(m.get("segment")) or "all", _details(m).get("role")

    latest: dict[tuple[Any, ...], float] = {}
    for m in metric_rows:
        latest[key(m)] = max(latest.get(key(m), -math.inf), origin(m))
    return [m for m in metric_rows if origin(m) == latest[key(m)]]


class _Html(str):
    """Markup made here (data inside already escaped): a table cell that is not escaped again."""


def _e(text: Any) -> str:
    return text if isinstance(text, _Html) else html.escape(str(text))


@dataclass(frozen=True)
class _Verdict:
    status: str
    """ok, warning, breach, failed, or unknown (a summary without its status word)."""
    headline: str
    explain: tuple[str, ...]
    findings: tuple[tuple[str, str, str], ...]
    """(check, level, detail) of each ``- check (level): detail`` line of the summary."""


@dataclass(frozen=True)
class _Group:
    key: str
    title: str
    state: Literal["fail", "warn", "ok", "na"]
    line: str
    """The group's verdict in one plain sentence (escaped when drawn)."""
    body: str
    """HTML: the group's table(s), data escaped."""


_STATUS_WORDS = {"ok": "OK", "warning": "Warning", "breach": "Breach", "failed": "Failed"}
_CHECK_WORDS = {
    "volume": "Volume",
    "validation": "Validation",
    "drift": "Drift",
    "multivariate_drift": "Joint drift",
    "prediction_drift": "Prediction drift",
    "target_drift": "Target drift",
    "kpi": "KPI",
    "labels": "Labels",
    "estimate": "Estimated KPI",
    "estimate_gap": "Estimate vs realized",
    "estimate_match": "Estimate vs realized",
}
_FINDING = re.compile(r"- (\w+) \((breach|warning|note)\): (.*)")


def _read_summary(summary: str) -> _Verdict:
    """The verdict's summary (``checks.verdict``): 'STATUS: cause in words.', lines that explain it, and one
    '- check (level): detail' line per finding."""
    lines = [line for line in summary.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    word, sep, rest = first.partition(":")
    status = word.strip().lower() if sep and word.strip().lower() in _STATUS_WORDS else "unknown"
    headline = rest.strip() if status != "unknown" else first
    explain: list[str] = []
    findings: list[tuple[str, str, str]] = []
    for line in lines[1:]:
        found = _FINDING.fullmatch(line.strip())
        if found and found.group(1) == "validation" and found.group(3).startswith("failed: "):
            # one broken rule a line: the verdict joins them with '; ' into one
            findings += [(found.group(1), found.group(2), f"failed: {r}") for r in found.group(3)[8:].split("; ")]
        elif found:
            findings.append((found.group(1), found.group(2), found.group(3)))
        elif findings:  # a finding's detail that runs over more than one line
            check, level, detail = findings[-1]
            findings[-1] = (check, level, f"{detail} {line.strip()}")
        else:
            explain.append(line.strip())
    return _Verdict(status, headline[:1].upper() + headline[1:], tuple(explain), tuple(findings))


def _is_private(m: dict[str, Any], private: set[str]) -> bool:
    """A row about a masked or excluded column, or a KPI segment of one (its values are the column's values)."""
    segment = str(m.get("segment") or "")
    return m.get("column") in private or (m["kind"] == "kpi" and segment.partition("=")[0] in private)


def _redact(text: str, private: set[str]) -> str:
    for name in sorted(private, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "[a masked column]", text)
    return text


def _window_words(label: str, tz: str) -> str:
    """'2026-10-19 00:00 → 2026-10-20 00:00 (Europe/Berlin)' from the window's label, or the label as it is."""
    start, sep, end = label.partition(" .. ")
    try:
        a, b = pd.Timestamp(start), pd.Timestamp(end)
    except ValueError:
        return label
    if not sep or pd.isna(a) or pd.isna(b):
        return label
    return f"{a:%Y-%m-%d %H:%M} → {b:%Y-%m-%d %H:%M} ({tz})"


def _num(v: Any) -> str:
    """Three significant digits; counts (and any whole number from 100 up) with thousands separators."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    x = float(v)
    if x == 0:
        return "0"
    if abs(x) >= 1000 or (x.is_integer() and abs(x) >= 100) or isinstance(v, int):
        return f"{x:,.0f}"
    text = f"{x:#.3g}"
    return f"{x:.3g}" if "e" in text else text.rstrip(".")


def _count(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{round(float(v)):,}"


def _pct(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{float(v) * 100:.3g}%"


def _target(m: dict[str, Any]) -> str:
    t = m.get("threshold")
    if t is None:
        return "—"
    return f"{'≤' if m.get('direction') == 'lower_is_better' else '≥'} {float(t):g}"


def _interval(m: dict[str, Any], lo: str = "lower", hi: str = "upper") -> str:
    a, b = m.get(lo), m.get(hi)
    return "—" if a is None or b is None else f"{_num(a)}–{_num(b)}"


def _table(heads: Sequence[str], rows: Sequence[tuple[str, Sequence[Any]]]) -> str:
    """A compact table; each row is (css class, cells), a 'bad' row marked in red. Cells are escaped; short ones
    do not wrap (a number split over two lines on a phone is hard to read), the Result column stands out."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
    result = heads.index("Result") if "Result" in heads else -1

    def cell(i: int, c: Any) -> str:
        cls = "r" if i == result else "w" if len(str(c)) > 14 else ""
        return f"<td class={cls}>{_e(c)}</td>" if cls else f"<td>{_e(c)}</td>"

    body = "".join(
        f"<tr{f' class={cls}' if cls else ''}>" + "".join(cell(i, c) for i, c in enumerate(cells)) + "</tr>"
        for cls, cells in rows
    )
    return f'<div class="t"><table><tr>{head}</tr>{body}</table></div>'


def _more(label: str, content: str, open_: bool = False) -> str:
    """Rows that matter less, folded (a <details> element: no script needed)."""
    return f"<details{' open' if open_ else ''}><summary>{html.escape(label)}</summary>{content}</details>"


def _rows(metric_rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in metric_rows if m["kind"] == kind]


def _details(m: dict[str, Any]) -> dict[str, Any]:
    d = m.get("details")
    return d if isinstance(d, dict) else {}


def _names(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_KPI_RESULT = {
    "ok": ("", "met"),
    "breach": ("bad", "breached"),
    "warning": ("warn", "beyond target (a warning)"),
    "pending": ("", "pending: labels not mature"),
    "not_evaluated": ("", "not evaluated"),
}


def _kpi_level(m: dict[str, Any]) -> str:
    level = _details(m).get("level")
    if level in _KPI_RESULT:
        return str(level)
    return "not_evaluated" if m.get("passed") is None else "ok" if m["passed"] else "breach"


def _kpi_cells(m: dict[str, Any]) -> tuple[str, list[Any]]:
    cls, words = _KPI_RESULT[_kpi_level(m)]
    return cls, [m["name"], words, _num(m.get("value")), _interval(m), _target(m), _count(_details(m).get("labelled"))]


def _kpi_group(metric_rows: list[dict[str, Any]]) -> _Group | None:
    rows = _rows(metric_rows, "kpi")
    if not rows:
        return None
    overall = [m for m in rows if (m.get("segment") or "all") == "all"]
    segments = [m for m in rows if (m.get("segment") or "all") != "all"]
    by_level: dict[str, list[dict[str, Any]]] = {}
    for m in overall:
        by_level.setdefault(_kpi_level(m), []).append(m)
    said = []
    for level, words in (("breach", "Breached"), ("warning", "Beyond target in this window, not yet a breach")):
        if by_level.get(level):
            said.append(
                f"{words}: "
                + ", ".join(f"{m['name']} {_num(m.get('value'))} (target {_target(m)})" for m in by_level[level])
                + "."
            )
    if by_level.get("pending"):
        said.append(f"Waiting for labels: {_names([m['name'] for m in by_level['pending']])}.")
    if by_level.get("not_evaluated"):
        said.append(f"Not evaluated (too few labelled rows): {_names([m['name'] for m in by_level['not_evaluated']])}.")
    if by_level.get("ok") and not said:
        said.append("Every KPI meets its target.")
    elif by_level.get("ok"):
        said.append(f"Met: {_names([m['name'] for m in by_level['ok']])}.")
    worst = sorted({str(m.get("segment")) for m in segments if _kpi_level(m) == "breach"})
    if worst:
        said.append(f"Segments breached: {', '.join(worst)}.")
    state: Literal["fail", "warn", "ok", "na"] = (
        "fail" if by_level.get("breach") else "warn" if by_level.get("warning") or worst else
        "ok" if by_level.get("ok") else "na"
    )  # fmt: skip
    heads: tuple[str, ...] = ("KPI", "Result", "Value", "95% interval", "Target", "Labelled rows")
    table = [_kpi_cells(m) for m in overall]
    if any(_details(m).get("note") for m in overall):  # why a KPI was judged so, in the last (widest) column
        heads += ("Why",)
        table = [(cls, [*cells, _details(m).get("note") or ""]) for (cls, cells), m in zip(table, overall, strict=True)]
    body = _table(heads, table)
    d = _details(overall[0]) if overall else {}
    if d.get("coverage") is not None:
        cover = f"Labels arrived for {_pct(d['coverage'])} of the window's rows"
        cover += "; mature." if d.get("mature") else "; not yet mature." if not d.get("incomplete") else ""
        if d.get("incomplete"):
            cover += ": the horizon has passed with labels missing, so these KPIs can warn but not breach."
        body += f"<p class=small>{html.escape(cover)}</p>"
    if segments:
        seg_rows = []
        for m in segments:
            cls, cells = _kpi_cells(m)
            seg_rows.append((cls, [m.get("segment"), *cells[:4], cells[5]]))
        bad = sum(1 for m in segments if _kpi_level(m) in ("breach", "warning"))
        by_segment = _table(("Segment", "KPI", "Result", "Value", "95% interval", "Labelled rows"), seg_rows)
        body += _more(f"By segment: {bad} of {len(segments)} beyond target", by_segment, open_=bad > 0)
    return _Group("kpis", "KPIs", state, " ".join(said) or "No KPI was evaluated.", body)


_GAP_WORDS = {"worse": "worse than predicted", "within": "as predicted", "better": "better than predicted"}


def _estimate_group(metric_rows: list[dict[str, Any]]) -> _Group | None:
    rows = _rows(metric_rows, "estimate")
    if not rows:
        return None
    breached = {
        m["name"]
        for m in _rows(metric_rows, "kpi")
        if (m.get("segment") or "all") == "all" and _kpi_level(m) == "breach"
    }
    table, compared = [], []
    for m in rows:
        d = _details(m)
        realized = _num(d.get("realized"))
        if d.get("realized") is not None and d.get("labelled_value") is not None:
            gap = _GAP_WORDS.get(str(d.get("gap")), "")
            compared.append(
                f"{m['name']}: realized {realized}, predicted {_num(d['labelled_value'])} "
                f"({_interval(d, 'labelled_lower', 'labelled_upper')}){': ' + gap if gap else ''}"
            )
        if m.get("value") is None:
            cls, result = "", f"not estimable: {d.get('reason') or 'no estimate'}"
        elif m.get("passed") is False:
            cls, result = "bad", "beyond target"
        else:
            changed_here = d.get("gap") == "worse" and m["name"] in breached
            cls, result = ("warn", "meets target; realized worse") if changed_here else ("", "meets target")
        table.append((cls, [m["name"], result, _num(m.get("value")), _interval(m), _target(m), realized]))
    beyond = [m["name"] for m in rows if m.get("passed") is False]
    # The verdict's reading: a KPI breached on labels while the confidence on the same rows says it meets its target.
    changed = [m["name"] for m in rows if _details(m).get("gap") == "worse" and m["name"] in breached]
    worse = [m["name"] for m in rows if _details(m).get("gap") == "worse"]
    estimable = [m for m in rows if m.get("value") is not None]
    state: Literal["fail", "warn", "ok", "na"]
    if beyond:
        state, line = "fail", f"The model's confidence predicts {_names(beyond)} beyond target, before the labels."
    elif changed:
        state = "warn"
        line = (
            f"The model's confidence predicts {_names(changed)} within target, but the labels show worse on the "
            "same rows: the relationship between inputs and outcome has changed."
        )
    elif estimable:
        state, line = "ok", "From the model's confidence, every estimated KPI meets its target."
        if worse:
            line += f" On the labelled rows, {_names(worse)} came out worse than predicted, still within target."
    else:
        state, line = "na", "Not estimable for this window."
    first = _details(rows[0])
    fitted = f" fitted on {first['fitted_on']}" if first.get("fitted_on") else ""
    how = f"Estimated by {str(first.get('method') or 'an estimator').upper()}{fitted}, from the model's confidence."
    heads = ("KPI", "Result", "Estimate", "95% band", "Target", "Realized")
    body = _table(heads, table)
    if compared:
        rows_ = _count(first.get("labelled"))
        body += f"<p class=small>On the same {_e(rows_)} labelled rows: {_e('; '.join(compared))}.</p>"
    return _Group("estimates", "Estimated KPIs", state, line, body + f"<p class=small>{_e(how)}</p>")


def _volume_group(metric_rows: list[dict[str, Any]]) -> _Group | None:
    rows = _rows(metric_rows, "volume")
    if not rows:
        return None
    m = rows[0]
    recent = _details(m).get("recent_median")
    expected = f"at least {_count(m.get('threshold'))}"
    median = f"; recent windows' median {_count(recent)}" if recent is not None else ""
    if m.get("passed") is False:
        state: Literal["fail", "warn", "ok", "na"] = "fail"
        got = "No rows at all: is the feed dead?" if not m.get("value") else f"Only {_count(m.get('value'))} rows"
        line = f"{got} ({expected} expected{median})."
    else:
        state, line = "ok", f"{_count(m.get('value'))} rows, as expected ({expected}{median})."
    cells = [_count(m.get("value")), "too few" if state == "fail" else "enough", expected, _count(recent)]
    body = _table(("Rows", "Result", "Expected", "Recent median"), [("bad" if state == "fail" else "", cells)])
    return _Group("volume", "Volume", state, line, body)


_BRACKETS = re.compile(r"\[[^\]]*\]")


def _rule_words(m: dict[str, Any], cfg: ModelConfig) -> str:
    """A validation rule in words, without its column (which has a cell of its own)."""
    rule, col = str(_details(m).get("rule") or m["name"]), m.get("column")
    bounds = _BRACKETS.search(rule)
    span = f" {bounds.group(0)}" if bounds else ""
    if m["name"] == "expect_column_values_to_not_be_null":
        ref = re.search(r"reference null share ([\d.]+%)", rule)
        return f"values present (the reference had {ref.group(1)} missing)" if ref else "values present in every row"
    if m["name"] == "expect_column_values_to_be_between":
        if col == cfg.columns.probability:
            return f"a probability, within{span}"
        whose = "the configured range" if col in cfg.validation.ranges else "the reference's range"
        return f"values within {whose}{span}"
    if m["name"] == "expect_column_values_to_be_in_set":
        n = re.search(r"in the (\d+) known categories", rule)
        whose = "allowed" if col in cfg.validation.allowed_categories else "the reference's"
        return f"values among {whose} {n.group(1) + ' ' if n else ''}categories"
    if m["name"] == "expect_column_values_to_be_unique":
        return "no duplicates"
    return rule


def _rule_result(m: dict[str, Any]) -> tuple[str, str]:
    share = _details(m).get("share") or {}
    state, since = share.get("state"), str(share.get("since") or "")[:10]
    if state == "accepted":
        return "", f"accepted since {since}" if since else "accepted"
    if m.get("passed") is not False:
        over = m.get("value") is not None and m.get("threshold") is not None and m["value"] > m["threshold"]
        return "", "passed (over the tolerance within sampling noise)" if over else "passed"
    words = {"new": "failed (new)", "rise": "failed (risen)", "standing": f"failed (standing since {since})"}
    return "bad", words.get(str(state), "failed")


def _validation_group(
    metric_rows: list[dict[str, Any]], cfg: ModelConfig, hidden: list[dict[str, Any]]
) -> _Group | None:
    rows = _rows(metric_rows, "validation")
    if not rows:
        return None
    table = []
    for m in rows:
        cls, result = _rule_result(m)
        share = _details(m).get("share") or {}
        seen = _pct(m.get("value"))
        if share.get("rows"):
            seen += f" ({_count(share.get('bad'))} of {_count(share['rows'])})"
        allowed = "none allowed" if not m.get("threshold") else f"≤ {_pct(m['threshold'])}"
        table.append((cls, [m.get("column") or "—", result, _rule_words(m, cfg), seen, allowed]))
    failed = [t for t in table if t[0] == "bad"]
    passed = [t for t in table if t[0] != "bad"]
    heads = ("Column", "Result", "Rule", "Rows breaking it", "Tolerance")
    body = _table(heads, failed) if failed else ""
    if passed:
        body += _more(f"{len(passed)} rules passed", _table(heads, passed))
    private_failed = sum(1 for m in _rows(hidden, "validation") if m.get("passed") is False)
    body += _hidden_note(_rows(hidden, "validation"), private_failed, "failed")
    if failed or private_failed:
        where = sorted({str(t[1][0]) for t in failed}) + (["a masked column"] if private_failed else [])
        counted = len(rows) + len(_rows(hidden, "validation"))
        line = f"{len(failed) + private_failed} of {counted} rules failed, in {_names(where)}."
        return _Group("validation", "Validation", "fail", line, body)
    return _Group("validation", "Validation", "ok", f"All {len(table)} rules passed.", body)


def _hidden_note(hidden: list[dict[str, Any]], bad: int, words: str) -> str:
    if not hidden:
        return ""
    cols = len({m.get("column") for m in hidden})
    return (
        f"<p class=small>Also checked: {cols} masked or excluded column{'s' if cols > 1 else ''}, not named on this "
        f"page ({bad} {words}).</p>"
    )


_METHOD_WORDS = {
    "wasserstein": "Wasserstein",
    "jensenshannon": "Jensen-Shannon",
    "ks": "KS test (p-value)",
    "chisquare": "chi-square (p-value)",
    "none": "not measured",
}


def _closeness(m: dict[str, Any]) -> float:
    """How near a column is to drifting: score over threshold for a distance, threshold over p for a test."""
    v, t = m.get("value"), m.get("threshold")
    if v is None or t is None:
        return -1.0
    try:
        p_value = get_method(str(m["name"])).yields == "p_value"
    except ValueError:  # 'none' (not measured), or a method no longer registered: read it as a distance
        p_value = False
    if p_value:
        return float(t) / max(float(v), 1e-300)
    return float(v) / float(t) if t else 0.0


def _drift_cells(m: dict[str, Any], *role: str) -> tuple[str, list[Any]]:
    passed = m.get("passed")
    result = "not evaluated" if passed is None else "stable" if passed else "drifted"
    method = _METHOD_WORDS.get(str(m["name"]), str(m["name"]))
    note = _details(m).get("note") or ""
    cell = _Html(f"{_e(result)}<br><small>{_e(note)}</small>") if note else result
    cells = [m.get("column"), *role, cell, _num(m.get("value")), _num(m.get("threshold")), method]
    return ("bad" if passed is False else ""), cells


_SHOWN = 12


def _drift_group(metric_rows: list[dict[str, Any]], hidden: list[dict[str, Any]]) -> _Group | None:
    drift = _rows(metric_rows, "drift")
    features = [m for m in drift if _details(m).get("role") == "feature"]
    dataset = next((m for m in drift if m["name"] == "dataset_share"), None)
    if not features and dataset is None:
        return None
    features.sort(key=lambda m: (m.get("passed") is not False, -_closeness(m)))
    private = [m for m in _rows(hidden, "drift") if _details(m).get("role") == "feature"]
    drifted = sum(1 for m in features + private if m.get("passed") is False)
    total = len(features) + len(private)
    rule = f"{_pct(dataset['threshold'])}" if dataset and dataset.get("threshold") is not None else "the rule's share"
    state: Literal["fail", "warn", "ok", "na"]
    if dataset is not None and dataset.get("passed") is None:
        note = str(_details(dataset).get("note") or "too few rows").removeprefix("not evaluated: ")
        state, line = "na", f"Not evaluated: {note}."
    elif dataset is not None and dataset.get("passed") is False:
        state = "fail"
        line = f"The inputs drifted: {drifted} of {total} features ({_pct(dataset.get('value'))}), at or above {rule}."
    elif drifted:
        state = "warn"
        line = f"{drifted} of {total} features drifted, below the {rule} of features that makes the inputs drifted."
    else:
        state, line = "ok", f"No feature drifted ({total} checked); the inputs count as drifted from {rule} of them."
    heads = ("Feature", "Result", "Score", "Threshold", "Method")
    table = [_drift_cells(m) for m in features]
    if all(m.get("passed") is None for m in features):  # nothing measured: the reason, once, is enough
        body = _more(f"{len(table)} features, none measured", _table(heads, table)) if table else ""
    else:
        body = _table(heads, table[:_SHOWN]) if table else ""
    if len(table) > _SHOWN and body.startswith("<div"):
        body += _more(f"{len(table) - _SHOWN} more features, all stable", _table(heads, table[_SHOWN:]))
    body += _hidden_note(private, sum(1 for m in private if m.get("passed") is False), "drifted")
    return _Group("drift", "Drift", state, line, body)


def _segment_drift_group(metric_rows: list[dict[str, Any]]) -> _Group | None:
    """Drift per segment value: the drifted cells first, the rest folded; informational (no part of the
    verdict), so never more than a warning."""
    rows = _rows(metric_rows, "segment_drift")
    cells = [m for m in rows if _details(m).get("role") == "feature"]
    left = [m for m in rows if _details(m).get("role") == "left_out"]
    if not cells and not left:
        return None
    cells.sort(key=lambda m: (m.get("passed") is not False, -_closeness(m)))
    drifted: dict[str, list[str]] = {}
    for m in cells:
        if m.get("passed") is False:
            drifted.setdefault(str(m.get("segment")), []).append(str(m.get("column")))
    evaluated = sum(1 for m in cells if m.get("passed") is not None)
    values = len({m.get("segment") for m in cells})
    state: Literal["fail", "warn", "ok", "na"]
    if drifted:
        ranked = sorted(drifted.items(), key=lambda kv: -len(kv[1]))
        state = "warn"
        line = (
            "Inputs drifted in " + _names([f"{seg} ({', '.join(f)})" for seg, f in ranked]) + f" ({evaluated} "
            "segment value x feature cells checked); not part of the verdict."
        )
    elif evaluated:
        state, line = "ok", f"No feature drifted in any of {values} segment values ({evaluated} cells checked)."
    else:
        state, line = "na", "Not evaluated: too few rows in every segment value."
    heads = ("Segment", "Feature", "Result", "Score", "Threshold", "Method", "Rows")

    def row(m: dict[str, Any]) -> tuple[str, list[Any]]:
        cls, cells_ = _drift_cells(m)
        return cls, [m.get("segment"), *cells_, _count(_details(m).get("rows"))]

    table = [row(m) for m in cells]
    hits = sum(len(f) for f in drifted.values())
    shown = max(hits, min(_SHOWN, len(table))) if hits else 0  # all stable: folded, the line says it
    body = _table(heads, table[:shown]) if shown else ""
    if len(table) > shown:
        body += _more(f"{len(table) - shown} {'more ' if shown else ''}cells", _table(heads, table[shown:]))
    for m in left:
        body += f"<p>{_e(_details(m).get('note') or '')}.</p>"
    return _Group("segments", "Drift per segment", state, line, body)


def _multivariate_group(metric_rows: list[dict[str, Any]]) -> _Group | None:
    rows = _rows(metric_rows, "multivariate_drift")
    if not rows:
        return None
    m, d = rows[0], _details(rows[0])
    err, limit = _num(m.get("value")), _num(m.get("threshold"))
    state: Literal["fail", "warn", "ok", "na"]
    if m.get("passed") is None:
        state, line = "na", "Not evaluated for this window."
    elif m["passed"]:
        state, line = "ok", f"The features move together as in the reference (error {err}, threshold {limit})."
    else:
        state = "warn"
        line = f"The features move together differently from the reference: error {err} above {limit}."
    result = "not evaluated" if m.get("passed") is None else "stable" if m["passed"] else "drifted"
    cells = [err, result, limit, _num(d.get("reference_error")), _count(d.get("rows"))]
    heads = ("Reconstruction error", "Result", "Threshold", "Reference's error", "Rows")
    return _Group("joint", "Joint drift", state, line, _table(heads, [("bad" if state == "warn" else "", cells)]))


def _output_drift_group(metric_rows: list[dict[str, Any]]) -> _Group | None:
    rows = [m for m in _rows(metric_rows, "drift") if _details(m).get("role") == "prediction"]
    rows += _rows(metric_rows, "target_drift")
    if not rows:
        return None
    roles = [str(_details(m).get("role") or "target") for m in rows]
    moved = [f"the {r}s ({m.get('column')})" for r, m in zip(roles, rows, strict=True) if m.get("passed") is False]
    title = " and ".join(dict.fromkeys(roles)).capitalize() + " drift"
    if moved:
        line = f"Drifted: {_names(moved)}."
    else:
        line = f"The {' and the '.join(dict.fromkeys(f'{r}s' for r in roles))} are distributed as in the reference."
    table = [_drift_cells(m, r) for m, r in zip(rows, roles, strict=True)]
    body = _table(("Column", "Role", "Result", "Score", "Threshold", "Method"), table)
    if all(m.get("passed") is None for m in rows):
        return _Group("outputs", title, "na", "Not evaluated for this window.", body)
    return _Group("outputs", title, "warn" if moved else "ok", line, body)


_MARK = {"fail": "✗", "warn": "!", "ok": "✓", "na": "–"}


def _render(model: str, window: str, title: str, v: _Verdict, groups: list[_Group], note: str) -> str:
    explain = "".join(f"<p>{_e(line)}</p>" for line in v.explain)
    findings = "".join(
        f'<li><span class="tag {level}">{_e(_CHECK_WORDS.get(check, check))}</span> {_e(detail)}</li>'
        for check, level, detail in v.findings
    )
    strip = "".join(f'<a class="chip {g.state}" href="#{g.key}">{_MARK[g.state]} {_e(g.title)}</a>' for g in groups)
    evidence = (
        "".join(
            f'<section id="{g.key}" class="g {g.state}"><h3>{_MARK[g.state]} {_e(g.title)}</h3>'
            f"<p class=line>{_e(g.line)}</p>{g.body}</section>"
            for g in groups
        )
        or "<p>No checks were recorded for this window.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f'<header class="s-{v.status}"><p class=meta><b>{_e(model)}</b> · {_e(window)}</p>'
        f"<p class=status>{_e(_STATUS_WORDS.get(v.status, 'Status unknown'))}</p>"
        f"<h1>{_e(v.headline)}</h1>{explain}</header>"
        + (f"<h2>What was found</h2><ul class=found>{findings}</ul>" if findings else "")
        + f"<h2>Evidence</h2><p class=small>Every check ran on the full window.</p><nav>{strip}</nav>"
        f'<div class="note">{note}</div>{evidence}</body></html>'
    )


_CSS = (
    "body{font:15px/1.45 system-ui,sans-serif;color:#1f2328;max-width:60em;margin:0 auto;padding:1em}"
    "header{border-left:.5em solid #6e7781;background:#f6f8fa;padding:.6em 1em;margin-bottom:1em}"
    "header p,h1{margin:.3em 0}h1{font-size:1.25em}h2{font-size:1.1em;margin:1.2em 0 .4em}"
    "h3{font-size:1em;margin:0 0 .2em}.meta{color:#57606a}.small{color:#57606a;font-size:.85em;margin:.3em 0}"
    ".status{font-size:1.6em;font-weight:700;text-transform:uppercase;color:#57606a}"
    ".s-ok{border-color:#1a7f37;background:#dafbe1}.s-ok .status{color:#1a7f37}"
    ".s-warning{border-color:#bf8700;background:#fff8c5}.s-warning .status{color:#9a6700}"
    ".s-breach{border-color:#cf222e;background:#ffebe9}.s-breach .status{color:#cf222e}"
    ".s-failed{border-color:#6639ba;background:#fbefff}.s-failed .status{color:#6639ba}"
    ".found{padding-left:1.2em}.found li{margin:.3em 0}"
    ".tag{font-size:.8em;font-weight:600;padding:0 .4em;border-radius:.3em;background:#eaeef2;white-space:nowrap}"
    ".tag.breach{background:#cf222e;color:#fff}.tag.warning{background:#bf8700;color:#fff}"
    "nav{margin:.4em 0}.chip{display:inline-block;margin:0 .3em .3em 0;padding:.1em .5em;border-radius:1em;"
    "text-decoration:none;font-size:.85em;border:1px solid #d0d7de;color:#1f2328}"
    ".chip.fail{background:#cf222e;color:#fff;border-color:#cf222e}.chip.warn{background:#fff8c5;border-color:#bf8700}"
    ".note{background:#f6f8fa;padding:.1em .8em;margin:.6em 0;font-size:.9em}"
    ".g{border-left:.3em solid #d0d7de;padding:.2em 0 .2em .8em;margin:1em 0}"
    ".g.fail{border-color:#cf222e}.g.warn{border-color:#bf8700}.g.ok{border-color:#1a7f37}"
    ".g.fail h3{color:#cf222e}.g.warn h3{color:#9a6700}.g.ok h3{color:#1a7f37}.line{margin:.2em 0 .4em}"
    ".t{overflow-x:auto}table{border-collapse:collapse;font-size:.85em;margin:.3em 0}"
    "td,th{border-bottom:1px solid #d0d7de;padding:.2em .5em;text-align:left;vertical-align:top}"
    "th{font-weight:600;background:#f6f8fa}td{white-space:nowrap}td.w,td.r{white-space:normal}td.w{min-width:8em}"
    "tr.bad td{background:#ffebe9}tr.bad td.r{color:#cf222e;font-weight:600}"
    "tr.warn td.r{color:#9a6700;font-weight:600}small{color:#57606a;font-weight:400}"
    "details{margin:.3em 0}summary{cursor:pointer;color:#0969da;font-size:.9em}"
)


def report_columns(cfg: ModelConfig, sample: pd.DataFrame, reference: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The features the Evidently report shows, and the others with why: masked or excluded columns (PII)
    never appear in it, and a column with no values on one side (a dead feed) cannot be drawn."""
    private = set(cfg.failures.mask) | set(cfg.failures.exclude)
    shown, left_out = [], []
    for col in cfg.columns.features:
        if col in private:
            left_out.append(f"{col} (masked or excluded)")
        elif sample[col].notna().sum() < 2 or reference[col].notna().sum() < 2:
            left_out.append(f"{col} (no values in the sample)")
        else:
            shown.append(col)
    return shown, left_out


ASSETS = "assets"
"""The folder, inside a model's reports folder, of the files all its Evidently pages share (Evidently's script
bundle and icon font, ~3.6 MB, once instead of in every page). A subfolder, not a shared one above: a browser
lets a page opened from disk load a font from its own folder or below (Firefox refuses a parent's)."""


def _evidently_html(cfg: ModelConfig, columns: list[str], cur: pd.DataFrame, ref: pd.DataFrame, out_dir: str) -> str:
    """Evidently's drift report on the sample: a page that loads Evidently's script and font from
    ``<out_dir>/assets``, or, when those cannot be placed there, a page with them inside."""
    snapshot = _drift_snapshot(cfg, columns, cur, ref)
    try:
        script, font = _shared_assets(out_dir)
        return _linked_page(snapshot, script, font)
    except Exception as exc:  # sharing the scripts saves space; it is never a reason to lose the report
        log.warning(
            "%s: Evidently's scripts could not be shared in %s (%s); the report embeds them", cfg.name, out_dir, exc
        )
        return _linked_page(snapshot, None, None)


def _drift_snapshot(cfg: ModelConfig, columns: list[str], cur: pd.DataFrame, ref: pd.DataFrame) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    class DriftTable(DataDriftPreset):
        """The preset's page (its dataset summary and per-column table) without its per-column ValueDrift
        metrics, whose own widgets the page does not show: the same page in half the time."""

        def generate_metrics(self, context: Any) -> Any:
            return list(super().generate_metrics(context))[:1]

    numerical = [c for c in cfg.columns.numerical if c in columns]
    categorical = [c for c in cfg.columns.categorical if c in columns]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    cur_ds = Dataset.from_pandas(cur[columns].reset_index(drop=True), data_definition=definition)
    ref_ds = Dataset.from_pandas(ref[columns].reset_index(drop=True), data_definition=definition)
    # Evidently's stat tests are those ``auto`` picks for large windows, at the configured thresholds.
    num, cat = auto_method("numeric", large=True), auto_method("categorical", large=True)
    preset = DriftTable(
        columns=columns,
        drift_share=cfg.drift.dataset_share,
        num_method=num.evidently_name,
        cat_method=cat.evidently_name,
        num_threshold=num.threshold(cfg.drift),
        cat_threshold=cat.threshold(cfg.drift),
    )
    return Report([preset]).run(cur_ds, ref_ds)


def _shared_assets(out_dir: str) -> tuple[str, str]:
    """Evidently's script and font in ``<out_dir>/assets`` (copied only when missing), as URLs relative to a
    page in ``out_dir``: they work opened from disk and served over http. Named by Evidently's version, since
    a page's data is drawn by the script of the Evidently that made it: an upgrade adds files, old pages keep
    theirs."""
    import evidently
    from evidently.legacy.utils.dashboard import STATIC_PATH

    hrefs = []
    for source, suffix in (("index.js", ".js"), ("material-ui-icons.woff2", "-icons.woff2")):
        name = f"evidently-{evidently.__version__}{suffix}"
        report_files.put_once(os.path.join(STATIC_PATH, source), report_files.join(out_dir, ASSETS, name))
        hrefs.append(f"{ASSETS}/{quote(name)}")
    return hrefs[0], hrefs[1]


def _linked_page(snapshot: Any, script: str | None, font: str | None) -> str:
    """Evidently's own page (``Snapshot.get_html_str``, i.e. ``render_widgets`` and ``file_html_template``)
    with its script and font linked, not embedded (both ``None``: embedded, Evidently's self-contained page),
    and each drill-down graph once: Evidently's page also leaves a copy of every nested widget's graphs inside
    the widget, which its script never reads (it draws them from the map of graphs), and so holds them twice.
    Its data goes in through ``_data_script``, never through Evidently's own data block, which writes the data's
    strings into an inline script as they are: a category ``</script><img onerror=...>`` would run."""
    from evidently.legacy.model.dashboard import DashboardInfo
    from evidently.legacy.model.widget import AdditionalGraphInfo, BaseWidgetInfo
    from evidently.legacy.renderers.base_renderer import DetailsInfo
    from evidently.legacy.renderers.html_widgets import group_widget
    from evidently.legacy.utils.dashboard import TemplateParams, file_html_template

    widgets = [group_widget(title="", widgets=snapshot._widgets), *snapshot._tests_widgets]
    items = [
        DetailsInfo(title="", info=g.params if isinstance(g, AdditionalGraphInfo) else g, id=g.id)
        for widget in widgets
        for g in widget.get_additional_graphs()
    ]
    graphs = {f"{i.id}": i.info.dict() if isinstance(i.info, BaseWidgetInfo) else i.info for i in items}
    dashboard_id = f"metric_{uuid.uuid4().hex}"
    info = DashboardInfo(name="Report", widgets=[_without_graphs(w) for w in widgets])
    linked = script is not None and font is not None
    params = TemplateParams(
        dashboard_id=dashboard_id,
        dashboard_info=info,
        additional_graphs={},
        embed_font=not linked,
        embed_lib=not linked,
        embed_data=False,
        font_file=font,
        include_js_files=[script] if linked and script else [],
    )
    page = str(file_html_template(params))
    if page.count(_NO_DATA) != 1:  # a template of another Evidently: never fall back to its unescaped data
        raise RuntimeError("Evidently's page template has changed: no single place for the report's data")
    return page.replace(_NO_DATA, _data_script(dashboard_id, info, graphs))


_NO_DATA = "<!-- no embedded data -->"
"""What Evidently's template (``file_html_template``) writes where its data block goes when told not to embed it."""

_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
"""JSON's escapes for what could end or break out of an inline script (``</script>``, ``<!--``, ``<script``):
outside its strings JSON has none of these characters, and inside them ``\\u003c`` reads as ``<``, so the data
is the same (``json.dumps`` already escapes every other character but ASCII, U+2028 and U+2029 among them)."""


def _script_json(value: Any) -> str:
    """``value`` as JSON (Evidently's encoder: numpy and pandas values) that is safe inside an inline ``<script>``."""
    from evidently.legacy.utils import NumpyEncoder

    return json.dumps(value, cls=NumpyEncoder).translate(_SCRIPT_SAFE)


def _data_script(dashboard_id: str, info: Any, graphs: dict[str, Any]) -> str:
    """The data block of Evidently's template (``file_html_template``: the two variables its script draws from),
    with every string from the data escaped so that none can close the script or open another."""
    dashboard = info.dict()
    for widget in dashboard["widgets"]:  # as ``dashboard_info_to_json``
        widget.pop("additionalGraphs", None)
    return (
        f"<script>\n    var {dashboard_id} = {_script_json(dashboard)};\n"
        f"    var additional_graphs_{dashboard_id} = {_script_json(graphs)};\n</script>"
    )


def _without_graphs(widget: Any) -> Any:
    """A copy of the widget and its nested widgets (the tree ``get_additional_graphs`` walks) without their graphs."""
    return widget.copy(update={"additionalGraphs": [], "widgets": [_without_graphs(w) for w in widget.widgets]})
