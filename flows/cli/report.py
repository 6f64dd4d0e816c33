"""``driftwarden report``: the pages people read, a model's page with its history and the index of every model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from driftwarden.config.settings import get_settings
from driftwarden.flows.cli.app import app, exit_with_error, load, out


@app.command()
def report(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="The model's YAML file.")] = None,
    all_models: Annotated[
        bool, typer.Option("--all", help="Every model's page and the index of them (config/*.yaml or CONFIGS).")
    ] = False,
    configs: Annotated[
        list[Path] | None, typer.Argument(help="Model configs for --all (default: config/*.yaml).")
    ] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Where to write the page (default: the model's reports folder).")
    ] = None,
) -> None:
    """Write a model's page (its KPIs against target over time, drift, data quality, failure log, incidents
    and what was done, then the latest window in detail), or with --all every model's page and an index:
    self-contained HTML files that open from disk with no network."""
    from driftwarden.flows.reports import model_page, postmortems
    from driftwarden.flows.reports.index_page import write_index
    from driftwarden.flows.sources.labelled import read_labelled

    if config is None and not all_models:
        exit_with_error("give --config <model's YAML> for a model's page, or --all for every model and the index", 2)
    if config is not None and all_models:
        exit_with_error("--config and --all exclude each other: --all takes model configs as arguments", 2)
    url = get_settings().resolved_store_url()
    if config is not None:
        cfg = load(config)
        postmortems.refresh_incidents(cfg, url, publish=False, reader=read_labelled)
        target = str(out_path.resolve()) if out_path else model_page.model_page_path(cfg)
        written = model_page.write_model_page(cfg, url, target)
        out.print(f"{cfg.name}: {written}")
        return
    paths = configs or sorted(Path("config").glob("*.yaml"))
    if not paths:
        exit_with_error(f"no model configs in {Path('config').resolve()}: give their paths", 2)
    cfgs = [load(p) for p in paths]
    reports_dir = get_settings().resolved_reports_dir()
    for cfg in cfgs:
        postmortems.refresh_incidents(cfg, url, publish=False, reader=read_labelled)
        out.print(f"{cfg.name}: {model_page.write_model_page(cfg, url, model_page.model_page_path(cfg))}")
    index = write_index(cfgs, url, reports_dir, str(out_path.resolve()) if out_path else None)
    out.print(f"index of {len(cfgs)} model(s): {index}")
