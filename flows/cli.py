"""The ``driftwarden`` console script: validate, run, backfill, history, failures, demo."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config.settings import prepare_environment

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Watch ML models in production.")
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The model's YAML file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per window on stdout.")]


def main() -> None:
    quiet = "--verbose" not in sys.argv
    prepare_environment(quiet=quiet)
    if quiet:
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
    app()


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's log lines.")] = False,
) -> None:
    """Watch ML models in production."""


def _load(config: Path) -> Any:
    from config.loader import ConfigError, load_model_config

    try:
        return load_model_config(config)
    except ConfigError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None


@app.command()
def validate(config: ConfigOpt) -> None:
    """Check a config and its sources without running anything."""
    from flows.checkup import check_sources

    cfg = _load(config)
    problems, notes = check_sources(cfg)
    for line in notes:
        out.print(f"[green]ok[/green]  {line}")
    for line in problems:
        err.print(f"[red]error[/red] {escape(line)}")
    if problems:
        raise typer.Exit(1)
    out.print(f"{config}: valid ({cfg.name}, {cfg.task}, {len(cfg.columns.features)} features)")


def _run_window(config: Path, window_end: str | None, as_of: str | None, trigger: str) -> dict[str, Any]:
    """One monitor-model run; whatever happens, the window's JSON (failed runs included)."""
    import pandas as pd

    from checks import records
    from flows.monitor import MonitorFailed, monitor_model

    try:
        return monitor_model(str(config), window_end=window_end, as_of=as_of, trigger=trigger)
    except MonitorFailed as exc:
        return exc.summary
    except Exception as exc:  # Prefect itself failed (e.g. its server could not start)
        error = f"{type(exc).__name__}: {exc}"
        return records.window_json(records.failed_run(None, None, window_end, error), pd.DataFrame(), 0, [])


def _missed_before_scheduled(cfg: Any) -> Any:
    """The windows a scheduled run catches up first (the flow finds the same ones), to report them."""
    import pandas as pd

    from checks.windows import scheduled_window
    from config.settings import get_settings
    from flows.schedule import plan_catch_up

    window = scheduled_window(pd.Timestamp.now(tz="UTC"), cfg.window_length, cfg.window.timezone, cfg.lateness)
    try:
        return plan_catch_up(cfg, get_settings().resolved_store_url(), window)
    except Exception:  # the store is down: the run itself reports it
        return None


def _caught_up(cfg: Any, missed: Any) -> list[dict[str, Any]]:
    from config.settings import get_settings
    from flows import store
    from flows.steps import load_window_json

    summaries = []
    for w in missed.windows if missed is not None else ():
        try:
            summaries.append(load_window_json(cfg, get_settings().resolved_store_url(), store.utc(w.start)))
        except Exception:  # its run stored nothing (the store went down): the scheduled run says why
            continue
    return summaries


def _time_option(value: str | None, option: str, tz: str) -> str | None:
    """Check a time option before any run starts: a bad one exits 2 and names the option."""
    from flows.steps import parse_time

    if value is None:
        return None
    try:
        return parse_time(value, option, tz).isoformat()
    except ValueError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None


@app.command()
def run(
    config: ConfigOpt,
    window_end: Annotated[str | None, typer.Option(help="End of the window (default: last complete).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one window as the Prefect flow monitor-model."""
    cfg = _load(config)
    missed = _missed_before_scheduled(cfg) if window_end is None else None
    summary = _run_window(config, _time_option(window_end, "--window-end", cfg.window.timezone), None, "run")
    caught_up = _caught_up(cfg, missed)
    if as_json:
        for s in [*caught_up, summary]:
            print(json.dumps(s, default=str))
    else:
        for s in caught_up:
            _print_summary(s)
        _print_summary(summary)
    if missed is not None and missed.windows:
        err.print(f"{cfg.name}: {escape(missed.note)}", soft_wrap=True)
    if any(s["status"] == "failed" for s in [*caught_up, summary]):
        raise typer.Exit(1)


@app.command()
def backfill(
    config: ConfigOpt,
    start: Annotated[str, typer.Option(help="First window starts at or after this time.")],
    end: Annotated[str, typer.Option(help="Last window ends at or before this time.")],
    as_json: JsonOpt = False,
    labels_now: Annotated[bool, typer.Option(help="Use every label known now, not only those known then.")] = False,
) -> None:
    """Replay history: one run per window, labels as they were known at each window's end."""
    cfg = _load(config)
    summaries = _backfill(config, start, end, labels_now)
    _emit(cfg, summaries, as_json)
    if any(s["status"] == "failed" for s in summaries):
        raise typer.Exit(1)


def _emit(cfg: Any, summaries: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for s in summaries:
            print(json.dumps(s, default=str))
    else:
        _print_table(cfg, summaries)


def _backfill(config: Path, start: str, end: str, labels_now: bool) -> list[dict[str, Any]]:
    from rich.progress import Progress

    from checks.windows import windows_between
    from flows.steps import load_window_json

    cfg = _load(config)
    tz = cfg.window.timezone
    start, end = _time_option(start, "--start", tz) or start, _time_option(end, "--end", tz) or end
    windows = windows_between(start, end, cfg.window_length, tz)
    if not windows:
        err.print(f"[red]no complete {cfg.window.length} window between {start} and {end}[/red]")
        raise typer.Exit(2)
    from config.settings import get_settings
    from flows import store

    results = []
    with Progress(console=err, transient=True) as bar:
        job = bar.add_task(f"{cfg.name}: {len(windows)} windows", total=len(windows))
        for w in windows:
            as_of = None if labels_now else w.end.isoformat()
            results.append(_run_window(config, w.end.isoformat(), as_of, "backfill"))
            bar.advance(job)
    # Later runs re-score earlier windows as labels arrive: report each window as it stands now.
    url = get_settings().resolved_store_url()
    summaries = []
    for w, result in zip(windows, results, strict=True):
        try:
            summaries.append(load_window_json(cfg, url, store.utc(w.start)))
        except Exception:  # never stored (the store is down): the run's own account
            summaries.append(result)
    return summaries


def _kpi_cell(v: dict[str, Any]) -> str:
    if v.get("value") is None:
        return "[dim]pending[/dim]" if v.get("level") == "pending" else "[dim]n/e[/dim]"
    mark = {"breach": "[red]✗[/red]", "warning": "[yellow]![/yellow]", "ok": "✓", "pending": "[dim]…[/dim]"}
    return f"{v['value']:.3f} {mark.get(v.get('level') or '', '')}"


STATUS_STYLE = {"ok": "green", "warning": "yellow", "breach": "bold red", "failed": "bold magenta"}


def _print_table(cfg: Any, summaries: list[dict[str, Any]], expected: dict[str, str | None] | None = None) -> None:
    table = Table(title=f"{cfg.name}: {len(summaries)} windows", show_lines=False)
    for col in ("window", "rows", "labelled", "validation", "drifted"):
        table.add_column(col)
    for k in cfg.kpis:
        table.add_column(
            f"{k.metric} (≥{k.target:g})" if k.direction == "higher_is_better" else f"{k.metric} (≤{k.target:g})"
        )
    table.add_column("status")
    table.add_column("causes")
    table.add_column("flagged on")
    if expected is not None:
        table.add_column("injected")
    for s in summaries:
        st = s["status"]
        start = (s["window_start"] or "")[:10]
        cells = [
            start,
            str(s.get("rows") if s.get("rows") is not None else "—"),
            str(s.get("labelled_rows") if s.get("labelled_rows") is not None else "—"),
            "[red]failed[/red]" if "data_quality" in s["causes"] else "pass" if st != "failed" else "—",
            ", ".join(s["drifted_features"]) or "—",
            *[_kpi_cell(s["kpis"].get(k.metric, {})) for k in cfg.kpis],
            f"[{STATUS_STYLE[st]}]{st}[/{STATUS_STYLE[st]}]",
            ", ".join(s["causes"]) or "—",
            (s.get("status_since") or "")[:10] if st == "breach" else "",
        ]
        if expected is not None:
            cells.append(expected.get(s["window_start"]) or "")
        table.add_row(*cells)
    out.print(table)


def _print_summary(s: dict[str, Any]) -> None:
    st = s["status"]
    out.print(
        f"[{STATUS_STYLE[st]}]{st.upper()}[/{STATUS_STYLE[st]}] {s.get('model')} "
        f"{s.get('window_start')} .. {s.get('window_end')}"
    )
    out.print(escape(s.get("summary") or s.get("error") or ""))
    if s.get("report"):
        out.print(f"report: {s['report']}")


@app.command()
def history(config: ConfigOpt, as_json: JsonOpt = False) -> None:
    """KPI and drift trend per window (the current version of each)."""
    from config.settings import get_settings
    from flows import store
    from flows.steps import load_window_json

    cfg = _load(config)
    url = get_settings().resolved_store_url()
    runs = store.latest_runs(store.open_store(url), cfg.name)
    summaries = [load_window_json(cfg, url, ws.to_pydatetime()) for ws in runs["window_start"]]
    if not summaries and not as_json:
        out.print(f"no runs stored for {cfg.name}")
    else:
        _emit(cfg, summaries, as_json)


@app.command()
def failures(
    config: ConfigOpt,
    since: Annotated[str | None, typer.Option(help="Only windows starting at or after this time.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason, e.g. confident_mistake.")] = None,
    export: Annotated[Path | None, typer.Option(help="Write the selection to .parquet or .csv.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
) -> None:
    """The failure log: where and why predictions went wrong."""
    from config.settings import get_settings
    from flows import store

    cfg = _load(config)
    from checks.failures import FAILURE_REASONS

    if reason is not None and reason not in FAILURE_REASONS:
        err.print(f"[red]--reason: {escape(reason)} is not one of {', '.join(FAILURE_REASONS)}[/red]")
        raise typer.Exit(2)
    tz = cfg.window.timezone
    since_utc = store.utc(_time_option(since, "--since", tz)) if since else None
    engine = store.open_store(get_settings().resolved_store_url())
    log = store.failure_log(engine, cfg.name, since_utc, reason)
    log["window_start"] = log["window_start"].dt.tz_localize("UTC").dt.tz_convert(tz)
    if export is not None:
        if export.suffix == ".parquet":
            log.to_parquet(export, index=False)
        elif export.suffix == ".csv":
            log.to_csv(export, index=False)
        else:
            err.print(f"[red]--export: {export} must end in .parquet or .csv[/red]")
            raise typer.Exit(2)
        out.print(f"wrote {len(log)} failure samples to {export}")
        return
    counts = log.groupby("reason").size().to_dict() if not log.empty else {}
    out.print(f"{len(log)} failure samples for {cfg.name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    table = Table()
    for col in ("window", "reason", "row_id", "prediction", "label", "score", "detail"):
        table.add_column(col)
    ordered = log.sort_values(["window_start", "reason", "score"], ascending=[False, True, False], na_position="last")
    for _, r in ordered.head(limit).iterrows():
        table.add_row(
            str(r["window_start"])[:10],
            r["reason"],
            r["row_id"],
            r["prediction"],
            r["label"],
            "" if r["score"] is None or r["score"] != r["score"] else f"{r['score']:.3f}",
            r["detail"] or "",
        )
    out.print(table)


@app.command()
def deployments(
    configs: Annotated[list[Path] | None, typer.Argument(help="Model configs (default: config/*.yaml).")] = None,
    target: Annotated[Path, typer.Option("--out", help="Where to write.")] = Path("deployments/prefect.yaml"),
    check: Annotated[bool, typer.Option(help="Only check that the file is up to date (exit 1 if not).")] = False,
) -> None:
    """(Re)generate deployments/prefect.yaml: one nightly monitor-model deployment per model config."""
    from config.loader import ConfigError
    from flows.deployments import render

    paths = configs or sorted(Path("config").glob("*.yaml"))
    try:
        text = render(paths, Path.cwd())
    except (ConfigError, ValueError) as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
    if check:
        if not target.exists() or target.read_text() != text:
            err.print(f"[red]{target} is out of date: run `driftwarden deployments`[/red]")
            raise typer.Exit(1)
        out.print(f"{target} is up to date ({len(paths)} models)")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    out.print(f"wrote {target} ({len(paths)} models)")


# --- data paths: the store's schema, retention, erasure (issue 3) -----------------------------------------

db_app = typer.Typer(no_args_is_help=True, help="The store's schema (Alembic migrations).")
app.add_typer(db_app, name="db")
StoreUrlOpt = Annotated[
    str | None,
    typer.Option("--store-url", help="The store URL (default: DRIFTWARDEN_STORE_URL or the SQLite file)."),
]


def _store_engine(store_url: str | None) -> Any:
    """The store's engine, without migrating it (``db`` commands say what they do)."""
    import sqlalchemy as sa

    from config.settings import expand_secrets, get_settings

    try:
        url = expand_secrets(store_url, "--store-url") if store_url else get_settings().resolved_store_url()
        engine = sa.create_engine(url)
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    except (KeyError, ValueError, sa.exc.ArgumentError) as exc:
        err.print(f"[red]--store-url: {escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
    return engine


@db_app.command("upgrade")
def db_upgrade(store_url: StoreUrlOpt = None) -> None:
    """Upgrade the store's schema to the newest revision (the store is also upgraded when a run opens it)."""
    from flows import store_schema

    engine = _store_engine(store_url)
    before, after = store_schema.upgrade(engine)
    if before == after:
        out.print(f"{engine.dialect.name} store is up to date at revision {after}")
    else:
        out.print(f"{engine.dialect.name} store upgraded from revision {before or '(empty)'} to {after}")


@db_app.command("current")
def db_current(store_url: StoreUrlOpt = None, as_json: JsonOpt = False) -> None:
    """The store's schema revision and the newest one; exit 1 when the store needs `db upgrade`."""
    from flows import store_schema

    state = store_schema.describe(_store_engine(store_url))
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
    from config.settings import get_settings
    from flows import store
    from flows.lifecycle import prune as prune_store

    cfgs = [_load(c) for c in configs]
    engine = store.open_store(get_settings().resolved_store_url())
    for cfg in cfgs:
        if cfg.retention.reports is None and cfg.retention.failure_samples is None:
            out.print(f"{cfg.name}: no retention configured (retention.reports / retention.failure_samples)")
            continue
        out.print(prune_store(engine, cfg, dry_run=dry_run).message)


@app.command()
def purge(
    config: ConfigOpt,
    ids: Annotated[list[str], typer.Option("--id", help="A prediction id (the columns.id value); repeatable.")],
) -> None:
    """Right to erasure: remove a person's rows (by prediction id) from the failure log, and say how many."""
    from config.settings import get_settings
    from flows import store
    from flows.lifecycle import purge as purge_store

    cfg = _load(config)
    if not ids or any(not i.strip() for i in ids):
        err.print("[red]--id: give at least one non-empty prediction id[/red]")
        raise typer.Exit(2)
    result = purge_store(store.open_store(get_settings().resolved_store_url()), cfg.name, ids)
    out.print(result.message)


# --- end of data paths -------------------------------------------------------------------------------------


@app.command()
def demo(
    config: Annotated[Path, typer.Option("--config", "-c")] = Path("config/credit_risk.yaml"),
    as_json: JsonOpt = False,
    store_url: StoreUrlOpt = None,
) -> None:
    """Train a credit-risk model, generate a month of nights with known events, backfill and report.

    Sources of the config that are database tables (url + table) are loaded with the generated rows."""
    import pandas as pd

    from config.settings import get_settings, use_store_url
    from flows import demo as demo_data
    from flows.demo_sql import load_sql_sources

    cfg = _load(config)
    if store_url:
        try:
            use_store_url(store_url)
        except KeyError as exc:
            err.print(f"[red]{escape(str(exc.args[0]))}[/red]")
            raise typer.Exit(2) from None
    err.print(f"generating the demo data for {cfg.name} (a model, its reference, {demo_data.NIGHTS} nights)…")
    paths = demo_data.generate(cfg, home=get_settings().home)
    for loaded in load_sql_sources(cfg, paths):
        err.print(f"loaded {loaded.rows} {loaded.source} rows into table {loaded.table}")
    start, end = demo_data.demo_range(cfg.window.timezone)
    summaries = _backfill(config, start.isoformat(), end.isoformat(), labels_now=False)
    expected = {}
    for s in summaries:
        night = (pd.Timestamp(s["window_start"]).tz_convert(cfg.window.timezone).normalize() - start).days + 1
        expected[s["window_start"]] = demo_data.expected_cause(night)
    if as_json:
        for s in summaries:
            print(json.dumps({**s, "injected": expected[s["window_start"]]}, default=str))
    else:
        _print_table(cfg, summaries, expected)
        _print_demo_check(summaries, expected)
    if any(s["status"] == "failed" for s in summaries):
        raise typer.Exit(1)


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


if __name__ == "__main__":
    main()
