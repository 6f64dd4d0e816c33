"""Evidence of a run: an Evidently HTML drift report on a bounded, seeded sample, and a summary page
that states the sample size and shows the full-data verdicts driftwarden decided on."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from config.model import ModelConfig
from flows import report_files


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.sample(n, random_state=seed)


def write_reports(
    cfg: ModelConfig,
    current: pd.DataFrame,
    reference: pd.DataFrame,
    out_dir: str,
    stem: str,
    sample_rows: int,
    window_label: str,
    summary: str,
    metric_rows: list[dict[str, Any]],
) -> str:
    """Write ``<stem>-evidently.html`` and the run's page ``<stem>.html`` into a folder or fsspec URL;
    return the page's path or URL."""
    cur = _sample(current, sample_rows, seed=0)
    ref = _sample(reference, sample_rows, seed=1)
    evidently_name = f"{stem}-evidently.html"
    if len(cur) >= 2 and len(ref) >= 2:
        report_files.write_with(
            report_files.join(out_dir, evidently_name), lambda local: _evidently_html(cfg, cur, ref, Path(local))
        )
        note = (
            f'<p><a href="{html.escape(evidently_name)}">Evidently drift report</a>, rendered on a seeded sample '
            f"of {len(cur)} current and {len(ref)} reference rows (of {len(current)} and {len(reference)}); its own "
            "per-column verdicts may differ from the full-data ones above, which are the ones that count.</p>"
        )
    else:
        note = "<p>Too few rows for an Evidently report.</p>"
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


def _evidently_html(cfg: ModelConfig, cur: pd.DataFrame, ref: pd.DataFrame, path: Path) -> None:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    cols = cfg.columns
    definition = DataDefinition(numerical_columns=cols.numerical, categorical_columns=cols.categorical)
    features = cols.features
    cur_ds = Dataset.from_pandas(cur[features].reset_index(drop=True), data_definition=definition)
    ref_ds = Dataset.from_pandas(ref[features].reset_index(drop=True), data_definition=definition)
    preset = DataDriftPreset(
        columns=features,
        drift_share=cfg.drift.dataset_share,
        num_method="wasserstein",
        cat_method="jensenshannon",
        num_threshold=cfg.drift.wasserstein_threshold,
        cat_threshold=cfg.drift.jensenshannon_threshold,
    )
    Report([preset]).run(cur_ds, ref_ds).save_html(str(path))
