"""``driftwarden demo``: a credit-risk model, a month of nights with known events, backfilled and reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from driftwarden.config.settings import get_settings, use_store_url
from driftwarden.flows.cli.app import JsonOpt, StoreUrlOpt, app, err, exit_with_error, load, out
from driftwarden.flows.cli.monitor import backfill_windows, print_table

if TYPE_CHECKING:
    from driftwarden.config.model import ModelConfig


@app.command()
def demo(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="The demo's YAML file (default: the packaged one, written into DRIFTWARDEN_HOME/demo).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    store_url: StoreUrlOpt = None,
) -> None:
    """Train a credit-risk model, generate a month of nights with known events, backfill and report.

    Sources of the config that are database tables (url + table) are loaded with the generated rows."""
    import pandas as pd

    from driftwarden.flows.demo import data as demo_data

    config, cfg = prepare(config, store_url)
    start, end = demo_data.demo_range(cfg.window.timezone)
    summaries = backfill_windows(config, start.isoformat(), end.isoformat(), labels_now=False)
    expected = {}
    new_champion_from = demo_data.promotion_night(cfg, cfg.window.timezone)
    for s in summaries:
        night = (pd.Timestamp(s["window_start"]).tz_convert(cfg.window.timezone).normalize() - start).days + 1
        expected[s["window_start"]] = demo_data.expected_cause(night, new_champion_from)
    if as_json:
        for s in summaries:
            print(json.dumps({**s, "injected": expected[s["window_start"]]}, default=str))
    else:
        print_table(cfg, summaries, expected)
        _print_demo_check(summaries, expected)
        if new_champion_from is not None:
            out.print(
                f"the concept change led to a retrain: the challenger won on nights it never trained on and was "
                f"promoted; nights {new_champion_from}-{demo_data.NIGHTS} were scored by it "
                f"(`driftwarden models --config {config}` shows the figures)"
            )
    _print_pages(cfg)
    if any(s["status"] == "failed" for s in summaries):
        raise typer.Exit(1)


def _print_pages(cfg: ModelConfig) -> None:
    """The pages the backfill left for people: the model page, its incidents' post-mortems, and the index."""
    from driftwarden.flows import store
    from driftwarden.flows.reports import model_page
    from driftwarden.flows.reports.index_page import write_index
    from driftwarden.flows.store.incidents import list_incidents

    url = get_settings().resolved_store_url()
    index = write_index([cfg], url, get_settings().resolved_reports_dir())
    incidents = list_incidents(store.open_store(url), cfg.name)
    from driftwarden.flows import files as report_files

    page = model_page.model_page_path(cfg)
    err.print(
        f"model page: {page}" if report_files.exists(page) else "the model page could not be written (see the log)"
    )
    for _, i in incidents.iterrows():
        err.print(f"post-mortem ({i['state']}): {i['title']}: {i['html_path']}")
    err.print(f"index of every model: {index}")


def prepare(config: Path | None, store_url: str | None) -> tuple[Path, ModelConfig]:
    """Everything the demo does before its backfill: the config (by default the packaged one, written into
    the home), the store, the data and champion v1. Returns the config's path and the config."""
    from driftwarden.flows.demo import data as demo_data
    from driftwarden.flows.demo.sql import load_sql_sources

    config = config or demo_data.demo_config(get_settings().home)
    cfg = load(config)
    refused = demo_data.not_a_demo_config(cfg, config)
    if refused:
        exit_with_error(refused, 2)
    if store_url:
        try:
            use_store_url(store_url)
        except KeyError as exc:
            exit_with_error(str(exc.args[0]), 2)
    from driftwarden.flows import store

    forgotten = store.forget_model(store.open_store(get_settings().resolved_store_url()), cfg.name)
    if forgotten:
        err.print(f"the demo starts over: {forgotten} stored runs of {cfg.name} from an earlier demo were removed")
    err.print(f"generating the demo data for {cfg.name} (a model, its reference, {demo_data.NIGHTS} nights)…")
    paths = demo_data.generate(cfg, home=get_settings().home)
    for loaded in load_sql_sources(cfg, paths):
        err.print(f"loaded {loaded.rows} {loaded.source} rows into table {loaded.table}")
    return config, cfg


def _print_demo_check(summaries: list[dict[str, Any]], expected: dict[str, str | None]) -> None:
    caught = missed = pending = 0
    for s in summaries:
        want = expected.get(s["window_start"])
        if want is None:
            continue
        if want in s["causes"]:
            caught += 1
        elif want == "concept_change" and any(v.get("level") == "pending" for v in s["kpis"].values()):
            pending += 1
        else:
            missed += 1
    clean = [s for s in summaries if expected.get(s["window_start"]) is None]
    clean_ok = sum(s["status"] == "ok" for s in clean)
    out.print(
        f"injected events flagged with the right cause: {caught}; missed: {missed}; "
        f"labels still pending at the end of the replay: {pending}; clean nights ok: {clean_ok}/{len(clean)}"
    )
