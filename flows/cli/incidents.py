"""``driftwarden postmortem``: a model's incidents, and the post-mortem of one, refreshed from the store."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from driftwarden.flows.cli.app import ConfigOpt, StoreUrlOpt, app, exit_with_error, load, out, time_option


@app.command()
def postmortem(
    config: ConfigOpt,
    window: Annotated[
        str | None,
        typer.Option("--window", help="A time or date inside a breached window (2026-10-19): its incidents."),
    ] = None,
    incident: Annotated[
        str | None, typer.Option("--incident", help="An incident's id (as listed, or as an alert names it).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per incident on stdout.")] = False,
    store_url: StoreUrlOpt = None,
) -> None:
    """The post-mortem of an incident, written for the people the model serves: what happened, the evidence,
    the cause and its rule, what was done, what is still open. Without --window or --incident: the model's
    incidents."""
    from driftwarden.checks.incidents import local_label
    from driftwarden.config.settings import get_settings, use_store_url
    from driftwarden.flows.reports.postmortems import refresh_incidents
    from driftwarden.flows.sources.labelled import read_labelled

    cfg = load(config)
    if window is not None and incident is not None:
        exit_with_error("--window and --incident: give one of them", 2)
    at = time_option(window, "--window", cfg.window.timezone)
    if store_url:
        try:
            use_store_url(store_url)
        except KeyError as exc:
            exit_with_error(str(exc.args[0]), 2)
    found = refresh_incidents(cfg, get_settings().resolved_store_url(), publish=False, reader=read_labelled)
    if window is None and incident is None:
        _list(found, as_json)
        return
    if incident is not None:
        chosen = [r for r in found if r.id == incident]
        if not chosen:
            exit_with_error(f"--incident {incident}: {cfg.name} has no incident of this id{_known(found)}", 2)
    else:
        import pandas as pd

        from driftwarden.flows import store

        t = store.utc(pd.Timestamp(at))
        chosen = [r for r in found if any(w.window_start <= t < w.window_end for w in r.incident.windows)]
        if not chosen:  # a calm night is an answer; a night never monitored is a mistake in the option
            runs = store.latest_runs(
                store.open_store(get_settings().resolved_store_url()), cfg.name, t - 2 * cfg.window_length,
                t + pd.Timedelta(microseconds=1),
            )  # fmt: skip
            mine = runs[(runs["window_start"].map(store.utc) <= t) & (runs["window_end"].map(store.utc) > t)]
            if mine.empty:
                exit_with_error(
                    f"--window {window}: {cfg.name} has no monitored window at this time (never run; "
                    f"`driftwarden run` or `driftwarden backfill` it first){_known(found)}", 2,
                )  # fmt: skip
            row = mine.iloc[-1]
            if as_json:
                print("[]")
            else:
                label = local_label(store.utc(row["window_start"]), cfg.window.timezone)
                out.print(f"{cfg.name}: the window of {label} was monitored ({row['status']}) and had no incident")
            return
    for r in chosen:
        if as_json:
            print(json.dumps({**r.postmortem.to_json(), **_paths(r, str(config))}, default=str))
        else:
            typer.echo(r.postmortem.to_markdown())
            typer.echo(f"(post-mortem page: {r.html_path})\n")


def _known(found: list[Any]) -> str:
    if not found:
        return " (it has none)"
    return "; its incidents: " + ", ".join(r.id for r in found)


def _paths(r: Any, config: str) -> dict[str, Any]:
    brief = r.brief(config)
    return {"html_path": r.html_path, "markdown_path": r.markdown_path, "command": brief["command"]}


def _list(found: list[Any], as_json: bool) -> None:
    from driftwarden.checks.postmortem import iso, local_time

    if as_json:
        for r in found:
            i = r.incident
            tz = i.timezone
            print(
                json.dumps(
                    {
                        "id": i.id,
                        "state": i.state,
                        "cause": i.cause,
                        "first_window": iso(i.first_window, tz),
                        "last_window": iso(i.last_window, tz),
                        "opened_at": iso(i.opened_at, tz),
                        "closed_at": iso(i.closed_at, tz),
                        "title": i.title,
                        "summary": r.postmortem.summary,
                        "html_path": r.html_path,
                    },
                    default=str,
                )  # fmt: skip
            )
        return
    if not found:
        out.print("no incidents")
        return
    table = Table(title="incidents")
    for column in ("id", "state", "cause", "opened", "closed", "title"):
        table.add_column(column)
    for r in found:
        i = r.incident
        state = "[bold red]open[/bold red]" if i.state == "open" else "closed"
        table.add_row(
            escape(i.id), state, escape(i.cause), local_time(i.opened_at, i.timezone),
            local_time(i.closed_at, i.timezone) if i.closed_at else "—", escape(i.title),
        )  # fmt: skip
    out.print(table)
