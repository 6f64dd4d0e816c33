"""The index of every configured model: its status, since when, and a link to its model page."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from driftwarden.config.model import ModelConfig
from driftwarden.flows import files as report_files
from driftwarden.flows import store
from driftwarden.flows.reports.charts import STATUS_COLOURS, day
from driftwarden.flows.reports.model_page import CSS, PAGE_NAME, STATUS_WORDS, status_since
from driftwarden.flows.reports.status import model_status
from driftwarden.flows.store.incidents import list_incidents

INDEX_NAME = "index.html"


def write_index(configs: list[ModelConfig], store_url: str, reports_dir: str, out: str | None = None) -> str:
    """Write the index of ``configs`` (``<reports_dir>/index.html`` unless ``out``) linking each model's page
    at ``<reports_dir>/<model>/model.html``; return its path."""
    out = out or report_files.join(reports_dir, INDEX_NAME)
    now = pd.Timestamp.now(tz="UTC")
    written = now.tz_convert(configs[0].window.timezone) if configs else now  # as the model pages date it
    rows = [_row(cfg, store_url, reports_dir, out, now) for cfg in configs]
    order = {"failed": 0, "breach": 1, "warning": 2, "unknown": 3, "never run": 4, "ok": 5}
    rows.sort(key=lambda r: (order.get(r["status"], 3), r["model"]))
    counts = pd.Series([r["status"] for r in rows]).value_counts().to_dict() if rows else {}
    head = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no model configured"
    body = "".join(_tr(r) for r in rows)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>driftwarden: every model</title>
<style>{CSS}</style></head><body>
<p class=crumb>driftwarden · written {written:%Y-%m-%d %H:%M %Z}</p><h1>Every model</h1>
<p class=lead id=summary>{len(rows)} model{"s" if len(rows) != 1 else ""}: {html.escape(head)}.</p>
<table id=models><tr><th>model</th><th>status</th><th>since</th><th>in words</th><th>last window</th>
<th>labels</th><th>open incidents</th><th>champion</th><th>last retrain</th></tr>{body}</table>
<p class=note>A model's page shows its KPIs against their targets over time, its drift, data quality and
failure log, its incidents with their post-mortems, and what was done.</p></body></html>"""
    return report_files.write_text(out, page)


def _row(cfg: ModelConfig, store_url: str, reports_dir: str, out: str, now: pd.Timestamp) -> dict[str, Any]:
    st = model_status(cfg, store_url, now)
    since, open_incidents = "—", []
    if st.get("last_window"):
        try:
            engine = store.open_store(store_url)
            since = status_since(store.latest_runs(engine, cfg.name), cfg.window.timezone)[0]
            incidents = list_incidents(engine, cfg.name)
            open_incidents = [str(t) for t in incidents.loc[incidents["state"] == "open", "title"]]
        except Exception:  # the status row already says what is wrong with the store
            since = "—"
    page = report_files.join(reports_dir, cfg.name, PAGE_NAME)
    base = out.rsplit("/", 1)[0] + "/"
    link = page[len(base) :] if page.startswith(base) else page
    retrain = st.get("last_retrain") or {}
    return {
        "model": cfg.name,
        "status": st["status"],
        "since": since,
        "words": st.get("error") or _words(st),
        "last_window": (st.get("last_window") or "—")[:16].replace("T00:00", "").replace("T", " "),
        "labels": "—" if st.get("label_coverage") is None else f"{st['label_coverage']:.0%} of the last window",
        "incidents": "; ".join(open_incidents) or "none",
        "champion": st.get("champion") or "—",
        "retrain": f"{retrain.get('outcome')} ({_local_day(retrain.get('as_of'), cfg.window.timezone)})"
        if retrain
        else "—",
        "link": link if report_files.exists(page) else None,
    }


def _local_day(ts: Any, tz: str) -> str:
    """A retrain's as-of (UTC in the registry) as the model page dates it: the local day."""
    try:
        return day(ts, tz)
    except (TypeError, ValueError):
        return str(ts)[:10]


def _words(st: dict[str, Any]) -> str:
    words = STATUS_WORDS.get(st["status"], st["status"])
    if st.get("causes"):
        words += ": " + ", ".join(c.replace("_", " ") for c in st["causes"])
    return words


def _tr(r: dict[str, Any]) -> str:
    colour = STATUS_COLOURS.get(r["status"], "#57606a")
    name = html.escape(r["model"])
    model = (
        f'<a href="{html.escape(r["link"])}">{name}</a>'
        if r["link"]
        else f"{name} <span class=note>(no page yet)</span>"
    )
    return (
        f"<tr data-model='{name}'><td>{model}</td><td><b style='color:{colour}'>{html.escape(r['status'])}</b></td>"
        f"<td>{html.escape(r['since'])}</td><td>{html.escape(r['words'])}</td><td>{html.escape(r['last_window'])}</td>"
        f"<td>{html.escape(r['labels'])}</td><td>{html.escape(r['incidents'])}</td><td>{html.escape(r['champion'])}</td>"
        f"<td>{html.escape(r['retrain'])}</td></tr>"
    )
