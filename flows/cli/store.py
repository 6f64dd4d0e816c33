"""The store's data: the ``db`` group (its schema), ``prune`` (retention) and ``purge`` (erasure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from driftwarden.config.settings import get_settings
from driftwarden.flows.cli.app import ConfigOpt, JsonOpt, StoreUrlOpt, app, exit_with_error, load, out, store_engine

db_app = typer.Typer(no_args_is_help=True, help="The store's schema (Alembic migrations).")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(store_url: StoreUrlOpt = None) -> None:
    """Upgrade the store's schema to the newest revision (the store is also upgraded when a run opens it)."""
    from driftwarden.flows.store import schema as store_schema

    engine = store_engine(store_url)
    before, after = store_schema.upgrade(engine)
    if before == after:
        out.print(f"{engine.dialect.name} store is up to date at revision {after}")
    else:
        out.print(f"{engine.dialect.name} store upgraded from revision {before or '(empty)'} to {after}")


@db_app.command("current")
def db_current(store_url: StoreUrlOpt = None, as_json: JsonOpt = False) -> None:
    """The store's schema revision and the newest one; exit 1 when the store needs `db upgrade`."""
    from driftwarden.flows.store import schema as store_schema

    state = store_schema.describe(store_engine(store_url))
    if as_json:
        print(json.dumps(state))
    else:
        note = "up to date" if state["up_to_date"] else "run `driftwarden db upgrade`"
        out.print(f"{state['dialect']} store at revision {state['current'] or '(empty)'}, head {state['head']}: {note}")
    if not state["up_to_date"]:
        raise typer.Exit(1)


@app.command()
def prune(
    configs: Annotated[list[Path], typer.Option("--config", "-c", help="Model config(s) whose retention to apply.")],
    dry_run: Annotated[bool, typer.Option(help="Only count what would be deleted.")] = False,
) -> None:
    """Delete reports and failure samples older than each model's `retention` (samples used in training stay)."""
    from driftwarden.flows import store
    from driftwarden.flows.store.retention import prune as prune_store

    cfgs = [load(c) for c in configs]
    engine = store.open_store(get_settings().resolved_store_url())
    for cfg in cfgs:
        if cfg.retention.reports is None and cfg.retention.failure_samples is None:
            out.print(f"{cfg.name}: no retention configured (retention.reports / retention.failure_samples)")
            continue
        out.print(prune_store(engine, cfg, dry_run=dry_run).message)
        if not dry_run:
            _redraw_model_page(cfg, get_settings().resolved_store_url())


@app.command()
def purge(
    config: ConfigOpt,
    ids: Annotated[list[str], typer.Option("--id", help="A prediction id (the columns.id value); repeatable.")],
) -> None:
    """Right to erasure: remove a person's rows (by prediction id) from the failure log, and say how many."""
    from driftwarden.flows import store
    from driftwarden.flows.store.retention import purge as purge_store

    cfg = load(config)
    if not ids or any(not i.strip() for i in ids):
        exit_with_error("--id: give at least one non-empty prediction id", 2)
    url = get_settings().resolved_store_url()
    result = purge_store(store.open_store(url), cfg.name, ids)
    out.print(result.message)
    _redraw_model_page(cfg, url)


def _redraw_model_page(cfg: Any, url: str) -> None:
    """The model page shows the latest window's failure samples: a page drawn before their rows were erased or
    pruned is drawn again from what the store still holds."""
    from driftwarden.flows import files as report_files
    from driftwarden.flows.reports import model_page

    if report_files.exists(model_page.model_page_path(cfg)):
        model_page.refresh_model_page(cfg, url)
