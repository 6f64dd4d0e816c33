"""``driftwarden errors``: where the model fails, the slices of the data that carry its mistakes and the features
associated with them, re-read from the sources and checked on newer windows than they were learned on."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from driftwarden.flows.cli.app import ConfigOpt, StoreUrlOpt, app, exit_with_error, load, out, time_option


@app.command()
def errors(
    config: ConfigOpt,
    since: Annotated[
        str | None,
        typer.Option("--since", help="First day read (2026-10-01); default: the last 30 windows monitored."),
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="End of the period read (default: now).")] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Only this model version (as its predictions name it, or N).")
    ] = None,
    min_slice: Annotated[
        int | None,
        typer.Option("--min-slice", min=10, help="Fewest rows of a slice where it is learned (default: 2%, >= 50)."),
    ] = None,
    postmortems: Annotated[
        bool,
        typer.Option(
            "--postmortems", help="Also add 'Where it fails' to the post-mortems of incidents with a KPI cause."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per model version on stdout.")] = False,
    store_url: StoreUrlOpt = None,
) -> None:
    """Which slices of the data carry the model's mistakes (readable rules with their size, error rate, lift
    and interval), learned on the older windows of the period and shown only if they hold on the newer ones
    after Holm's correction; and the features associated with the mistakes. Per model version."""
    import pandas as pd

    from driftwarden.config.settings import get_settings, use_store_url
    from driftwarden.flows.errors import SourceError
    from driftwarden.flows.reports.errors import where_it_fails
    from driftwarden.flows.sources.labelled import read_labelled

    cfg = load(config)
    tz = cfg.window.timezone
    start = time_option(since, "--since", tz)
    end = time_option(until, "--until", tz)
    if start is not None and end is not None and pd.Timestamp(start) >= pd.Timestamp(end):
        exit_with_error(f"--since {since} is not before --until {until}", 2)
    if store_url:
        try:
            use_store_url(store_url)
        except KeyError as exc:
            exit_with_error(str(exc.args[0]), 2)
    try:
        reports = where_it_fails(
            cfg,
            get_settings().resolved_store_url(),
            read_labelled,
            pd.Timestamp(start) if start else None,
            pd.Timestamp(end) if end else None,
            version,
            min_slice,
        )
    except LookupError as exc:
        exit_with_error(str(exc.args[0]), 2)
    except SourceError as exc:
        exit_with_error(f"{config}: {exc}", 1)
    if postmortems:
        from driftwarden.flows.reports.postmortems import refresh_incidents

        for done in refresh_incidents(cfg, get_settings().resolved_store_url(), publish=False, reader=read_labelled):
            if "where_it_fails" in done.postmortem.facts:
                where = "updated" if done.changed else "unchanged"
                out.print(f"post-mortem {escape(done.id)} ({where}): {escape(done.html_path)}", soft_wrap=True)
    if as_json:
        for r in reports:
            print(json.dumps({"model": cfg.name, **r.to_json()}, default=str))
    else:
        for r in reports:
            _show(r)
    if all(r.refused for r in reports):
        raise typer.Exit(1)


def _show(r: object) -> None:
    from driftwarden.checks.slices import SliceReport

    assert isinstance(r, SliceReport)
    lines = r.lines()
    out.print(f"[bold]{escape(lines[0])}[/bold]")
    if r.refused:
        return
    for line in lines[1:2] + list(r.notes):
        out.print(escape(line))
    if r.slices:
        table = Table(title=f"slices that carry the mistakes ({r.measure} on the newer windows)")
        for column in ("slice", "rows", r.measure, "lift", "interval (Holm)", "where learned"):
            table.add_column(column, overflow="fold")
        for s in r.slices:
            rate = f"{s.rate:.1%}" if r.measure == "error rate" else f"{s.rate:.3g}"
            learned = f"{s.learn_rate:.1%}" if r.measure == "error rate" else f"{s.learn_rate:.3g}"
            table.add_row(
                escape(s.rule), f"{s.rows:,}", rate, f"{s.lift:.2f}", f"{s.lower:.2f} to {s.upper:.2f}",
                f"{learned} on {s.learn_rows:,}",
            )  # fmt: skip
        out.print(table)
    rest = [line for line in lines[2:] if line not in r.notes and not line.startswith("- ")]
    for line in rest[:-1] if r.driver_note else rest:
        out.print(escape(line))
    drivers = r.driver_lines()
    if drivers:
        out.print("Features associated with the mistakes (out of sample):")
        for line in drivers:
            out.print(escape(line))
    if r.driver_note:
        out.print(escape(r.driver_note))
    out.print()
