"""Evidence of a run: an Evidently HTML drift report on a bounded, seeded sample, and a summary page
that states the sample size and shows the full-data verdicts driftwarden decided on. Evidently's pages load
its script and font from one copy in the model's reports folder, ``assets/`` (~0.25 MB a page, not ~4 MB)."""

from __future__ import annotations

import html
import logging
import os
import uuid
from typing import Any
from urllib.parse import quote

import pandas as pd

from driftwarden.checks.drift import auto_method
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
                f"of {len(sample)} of the window's {rows} rows and {len(reference)} rows drawn from the reference "
                f"profile (of {profile.rows}); its own per-column verdicts may differ from the full-data ones above, "
                "which are the ones that count.</p>"
            )
    if left_out:
        note += f"<p>Not in the Evidently report: {html.escape(', '.join(left_out))}.</p>"
    return write_page(page, cfg, window_label, summary, metric_rows, note)


def _no_evidently_note(window_label: str) -> str:
    """Why a page has no Evidently report, and the command that draws one (the window's end, from its label)."""
    end = window_label.rpartition(" .. ")[2] if " .. " in window_label else "<the window's end>"
    command = f"driftwarden run --config <the model's YAML> --window-end {end} --evidently"
    return (
        "<p>No Evidently drift report for this window: it had no finding, and the report is drawn for windows "
        "with a finding (and for the last window of a backfill); every check above is on the full window. "
        f"<code>{html.escape(command)}</code> draws it for this window.</p>"
    )


def write_page(
    path: str, cfg: ModelConfig, window_label: str, summary: str, metric_rows: list[dict[str, Any]], note: str
) -> str:
    """A run's page (a file path or fsspec URL): its verdict in words and every check it made on the full window."""
    heads = ("kind", "name", "column", "segment", "value", "interval", "threshold", "passed")
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(m, k))}</td>" for k in heads) + "</tr>"
        for m in metric_rows
        if m["kind"] in ("volume", "validation", "drift", "multivariate_drift", "kpi", "estimate")
    )
    title = f"{html.escape(cfg.name)} {html.escape(window_label)}"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>{_CSS}</style></head>
<body><h1>{html.escape(cfg.name)}</h1><h2>{html.escape(window_label)}</h2>
<pre>{html.escape(summary)}</pre>
<h3>Checks on the full window</h3>
<p>Rows of kind <code>estimate</code> are KPIs estimated from the model's confidence, before the labels (value
and 95% band); <code>multivariate_drift</code> is the features' joint drift (the PCA's reconstruction error
against its threshold at the window's size).</p>
<table><tr>{"".join(f"<th>{h}</th>" for h in heads)}</tr>{rows}</table>
{note}</body></html>"""
    return report_files.write_text(path, page)


_CSS = (
    "body{font-family:sans-serif;margin:2em} td,th{border:1px solid #ccc;padding:2px 6px} "
    "table{border-collapse:collapse}"
)


def _cell(m: dict[str, Any], key: str) -> str:
    if key == "interval":
        lo, hi = m.get("lower"), m.get("upper")
        return "" if lo is None or hi is None else f"[{lo:.4g}, {hi:.4g}]"
    v = m.get(key)
    if v is None:
        return ""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


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
    ``<out_dir>/assets``, or, when those cannot be placed there, Evidently's own self-contained page."""
    snapshot = _drift_snapshot(cfg, columns, cur, ref)
    try:
        script, font = _shared_assets(out_dir)
        return _linked_page(snapshot, script, font)
    except Exception as exc:  # sharing the scripts saves space; it is never a reason to lose the report
        log.warning(
            "%s: Evidently's scripts could not be shared in %s (%s); the report embeds them", cfg.name, out_dir, exc
        )
        return str(snapshot.get_html_str(as_iframe=False))


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


def _linked_page(snapshot: Any, script: str, font: str) -> str:
    """Evidently's own page (``Snapshot.get_html_str``, i.e. ``render_widgets`` and ``file_html_template``)
    with its script and font linked, not embedded, and each drill-down graph once: Evidently's page also
    leaves a copy of every nested widget's graphs inside the widget, which its script never reads (it draws
    them from the map of graphs), and so holds them twice."""
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
    params = TemplateParams(
        dashboard_id=f"metric_{uuid.uuid4().hex}",
        dashboard_info=DashboardInfo(name="Report", widgets=[_without_graphs(w) for w in widgets]),
        additional_graphs=graphs,
        embed_font=False,
        embed_lib=False,
        font_file=font,
        include_js_files=[script],
    )
    return str(file_html_template(params))


def _without_graphs(widget: Any) -> Any:
    """A copy of the widget and its nested widgets (the tree ``get_additional_graphs`` walks) without their graphs."""
    return widget.copy(update={"additionalGraphs": [], "widgets": [_without_graphs(w) for w in widget.widgets]})
