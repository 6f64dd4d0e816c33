"""``driftwarden status``: every configured model on one screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from driftwarden.config.settings import get_settings
from driftwarden.flows.cli.app import STATUS_STYLE, JsonOpt, app, exit_with_error, load, out


def _estimated_cell(estimated: dict[str, dict[str, object]]) -> str:
    """The last window's estimated KPIs (before its labels): 'accuracy 0.871 [0.86, 0.88]'."""
    parts = []
    for metric, e in estimated.items():
        band = e.get("band")
        if isinstance(e.get("value"), float) and isinstance(band, list):
            parts.append(f"{metric} {e['value']:.3f} [{band[0]:.3f}, {band[1]:.3f}]")
        elif e.get("not_estimable"):
            parts.append(f"{metric} [dim]n/e[/dim]")
    return "\n".join(parts) or "—"


@app.command()
def status(
    configs: Annotated[list[Path] | None, typer.Argument(help="Model configs (default: config/*.yaml).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every configured model on one screen: last run and status, open conditions, muted checks, label
    coverage, champion, last retrain, next run."""
    import pandas as pd

    from driftwarden.flows.reports.status import model_status

    paths = configs or sorted(Path("config").glob("*.yaml"))
    if not paths:
        exit_with_error(f"no model configs in {Path('config').resolve()}: give their paths", 2)
    url = get_settings().resolved_store_url()
    now = pd.Timestamp.now(tz="UTC")
    rows = [model_status(load(p), url, now) for p in paths]
    if as_json:
        for r in rows:
            print(json.dumps(r, default=str))
        return
    table = Table(title=f"driftwarden: {len(rows)} models")
    for col in ("model", "last window", "run at", "status", "causes", "labels", "estimated", "open breaches"):
        table.add_column(col, no_wrap=col in ("model", "last window", "run at", "status"))
    for col in ("open conditions", "muted", "outbox", "champion", "last retrain", "next run"):
        table.add_column(col, overflow="fold")
    for r in rows:
        st = r["status"]
        style = STATUS_STYLE.get(st, "dim")
        retrain = r["last_retrain"] or {}
        mature = r.get("labels_mature_through")
        labels = "—" if r["label_coverage"] is None else f"last {r['label_coverage']:.0%}"
        labels += f", mature to {mature[:10]}" if mature else ""
        table.add_row(
            r["model"],
            (r["last_window"] or "—")[:16],
            (r.get("last_run_at") or "—")[:16],
            f"[{style}]{st}[/{style}]",
            escape(r.get("error") or ", ".join(r["causes"]) or "—"),
            labels,
            _estimated_cell(r.get("estimated") or {}),
            str(r["breaches_open"]),
            escape("\n".join(r["open_conditions"])) or "—",
            escape("\n".join(r["muted"])) or "—",
            ", ".join(f"{n} {k}" for k, n in r["outbox"].items()) or "—",
            r["champion"] or "—",
            f"{retrain.get('outcome')} ({str(retrain.get('as_of'))[:10]})" if retrain else "—",
            r["next_run"][:16],
        )
    out.print(table)
    if any(r["status"] == "unknown" for r in rows):
        raise typer.Exit(1)
