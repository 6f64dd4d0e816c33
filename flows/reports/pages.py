"""Evidence of a run: an Evidently HTML drift report on a bounded, seeded sample, and a summary page
that states the sample size and shows the full-data verdicts driftwarden decided on."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

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
) -> str:
    """Write ``<stem>-evidently.html`` and the run's page ``<stem>.html`` into a folder or fsspec URL;
    return the page's path or URL. ``sample`` is the seeded sample of the window's ``rows`` rows; the
    reference side is drawn from the stored profile, as many rows."""
    reference = profile.draw(cfg.columns.features, max(len(sample), 1))
    columns, left_out = report_columns(cfg, sample, reference)
    evidently_name = f"{stem}-evidently.html"
    note = "<p>Too few rows for an Evidently report.</p>"
    if len(sample) >= 2 and len(reference) >= 2 and columns:
        try:
            report_files.write_with(
                report_files.join(out_dir, evidently_name),
                lambda local: _evidently_html(cfg, columns, sample, reference, Path(local)),
            )
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
    return write_page(report_files.join(out_dir, f"{stem}.html"), cfg, window_label, summary, metric_rows, note)


def write_page(
    path: str, cfg: ModelConfig, window_label: str, summary: str, metric_rows: list[dict[str, Any]], note: str
) -> str:
    """A run's page (a file path or fsspec URL): its verdict in words and every check it made on the full window."""
    heads = ("kind", "name", "column", "segment", "value", "interval", "threshold", "passed")
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(m, k))}</td>" for k in heads) + "</tr>"
        for m in metric_rows
        if m["kind"] in ("volume", "validation", "drift", "kpi")
    )
    title = f"{html.escape(cfg.name)} {html.escape(window_label)}"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>{_CSS}</style></head>
<body><h1>{html.escape(cfg.name)}</h1><h2>{html.escape(window_label)}</h2>
<pre>{html.escape(summary)}</pre>
<h3>Checks on the full window</h3>
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


def _evidently_html(cfg: ModelConfig, columns: list[str], cur: pd.DataFrame, ref: pd.DataFrame, path: Path) -> None:
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
    Report([preset]).run(cur_ds, ref_ds).save_html(str(path))
