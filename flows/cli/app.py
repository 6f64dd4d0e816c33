"""The ``driftwarden`` console script: validate, run, backfill, history, failures, demo (and, from
``flows/cli_models.py``, retrain, score, models, promote, rollback)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from driftwarden.config.settings import prepare_environment

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Watch ML models in production.")
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)  # an error naming a long path stays on one line

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The model's YAML file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per window on stdout.")]


def main() -> None:
    quiet = "--verbose" not in sys.argv
    prepare_environment(quiet=quiet)
    if quiet:
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import sqlalchemy as sa

    from driftwarden.flows.deploy.embedded import embedded_runs

    try:
        with embedded_runs():
            app()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:  # the store (sources say their own name)
        err.print(f"[red]{escape(store_unreachable(exc))}[/red]")
        sys.exit(1)


def store_unreachable(exc: Exception) -> str:
    """One line for a store that cannot be reached, naming where it is (never its password)."""
    import sqlalchemy as sa

    from driftwarden.config.settings import get_settings
    from driftwarden.flows.errors import first_line

    cause = first_line(exc)
    try:
        where = sa.engine.make_url(get_settings().resolved_store_url()).render_as_string(hide_password=True)
    except Exception:
        where = "DRIFTWARDEN_STORE_URL"
    return f"the store at {where} cannot be reached: {cause} (set DRIFTWARDEN_STORE_URL, or --store-url)"


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's log lines.")] = False,
) -> None:
    """Watch ML models in production."""


def _load(config: Path) -> Any:
    from driftwarden.config.loader import ConfigError, load_model_config

    try:
        return load_model_config(config)
    except ConfigError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None


@app.command()
def validate(config: ConfigOpt) -> None:
    """Check a config and its sources without running anything."""
    from driftwarden.flows.monitor.checkup import check_sources

    cfg = _load(config)
    problems, notes = check_sources(cfg)
    for line in notes:
        out.print(f"[green]ok[/green]  {line}")
    for line in problems:
        err.print(f"[red]error[/red] {escape(line)}")
    if problems:
        raise typer.Exit(1)
    out.print(f"{config}: valid ({cfg.name}, {cfg.task}, {len(cfg.columns.features)} features)")


def _run_window(
    config: Path, window_end: str | None, as_of: str | None, trigger: str, send_alerts: bool | None = None
) -> dict[str, Any]:
    """One monitor-model run; whatever happens, the window's JSON (failed runs included)."""
    import pandas as pd
    from prefect import tags

    from driftwarden.checks import records
    from driftwarden.flows.monitor.flow import MonitorFailed, monitor_model

    try:
        with tags("driftwarden", f"model:{_load(config).name}"):  # as the deployments' runs are tagged
            return monitor_model(
                str(config), window_end=window_end, as_of=as_of, trigger=trigger, send_alerts=send_alerts
            )
    except MonitorFailed as exc:
        return exc.summary
    except Exception as exc:  # Prefect itself failed (e.g. its server could not start)
        error = f"{type(exc).__name__}: {exc}"
        return records.window_json(records.failed_run(None, None, window_end, error), pd.DataFrame(), 0, [])


def _missed_before_scheduled(cfg: Any) -> Any:
    """The windows a scheduled run catches up first (the flow finds the same ones), to report them."""
    import pandas as pd

    from driftwarden.checks.windows import scheduled_window
    from driftwarden.config.settings import get_settings
    from driftwarden.flows.monitor.missed_windows import plan_catch_up

    window = scheduled_window(pd.Timestamp.now(tz="UTC"), cfg.window_length, cfg.window.timezone, cfg.lateness)
    try:
        return plan_catch_up(cfg, get_settings().resolved_store_url(), window)
    except Exception:  # the store is down: the run itself reports it
        return None


def _caught_up(cfg: Any, missed: Any) -> list[dict[str, Any]]:
    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store
    from driftwarden.flows.monitor.tasks import load_window_json

    summaries = []
    for w in missed.windows if missed is not None else ():
        try:
            summaries.append(load_window_json(cfg, get_settings().resolved_store_url(), store.utc(w.start)))
        except Exception:  # its run stored nothing (the store went down): the scheduled run says why
            continue
    return summaries


def _time_option(value: str | None, option: str, tz: str) -> str | None:
    """Check a time option before any run starts: a bad one exits 2 and names the option."""
    from driftwarden.flows.monitor.tasks import parse_time

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
    rescored = _rescored(cfg, summary)
    if as_json:
        for s in [*caught_up, *rescored, summary]:
            print(json.dumps(s, default=str))
    else:
        for s in [*caught_up, *rescored]:
            _print_summary(s)
        _print_summary(summary)
    if missed is not None and missed.windows:
        failed = sum(s["status"] == "failed" for s in caught_up)
        note = missed.note(str(config)) + (f" ({failed} of them failed: see above)" if failed else "")
        err.print(f"{cfg.name}: {escape(note)}", soft_wrap=True)
    if any(s["status"] == "failed" for s in [*caught_up, summary]):
        raise typer.Exit(1)


def _rescored(cfg: Any, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Earlier windows whose status this run's label catch-up changed, as they stand now (trigger rescore)."""
    import pandas as pd

    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store
    from driftwarden.flows.monitor.tasks import load_window_json

    url = get_settings().resolved_store_url()
    changed = summary.pop("rescored", None) or []  # told as windows of their own
    return [load_window_json(cfg, url, store.utc(pd.Timestamp(r["window_start"]))) for r in changed]


@app.command()
def backfill(
    config: Annotated[list[Path], typer.Option("--config", "-c", help="A model's YAML file (repeat for several).")],
    start: Annotated[str, typer.Option(help="First window starts at or after this time.")],
    end: Annotated[str, typer.Option(help="Last window ends at or before this time.")],
    as_json: JsonOpt = False,
    labels_now: Annotated[bool, typer.Option(help="Use every label known now, not only those known then.")] = False,
    alerts: Annotated[bool, typer.Option("--alerts", help="Send alerts too (backfills send none by default).")] = False,
    concurrency: Annotated[int, typer.Option(min=1, help="Models replayed at once (several --config).")] = 1,
) -> None:
    """Replay history: one run per window, labels as they were known at each window's end.

    A model's windows run in time order (each window's verdict reads the earlier ones: the consecutive-breach
    rule, the recent volume, label catch-up); several models run side by side, ``--concurrency`` at a time,
    each in a process of its own."""
    for path in config:
        _load(path)  # every config is checked before anything runs
    if len(config) > 1:
        failed = _backfill_models(config, start, end, as_json, labels_now, alerts, concurrency)
        if failed:
            raise typer.Exit(1)
        return
    cfg = _load(config[0])
    summaries = _backfill(config[0], start, end, labels_now, send_alerts=True if alerts else None)
    _emit(cfg, summaries, as_json)
    if any(s["status"] == "failed" for s in summaries):
        raise typer.Exit(1)


def _backfill_models(
    configs: list[Path], start: str, end: str, as_json: bool, labels_now: bool, alerts: bool, concurrency: int
) -> bool:
    """One ``driftwarden backfill`` process per model, ``concurrency`` at a time; their windows printed per
    model as they finish. True when some run failed."""
    import subprocess
    import time

    args = ["--start", start, "--end", end, "--json", *(["--labels-now"] if labels_now else [])]
    args += ["--alerts"] if alerts else []
    waiting = list(configs)
    running: list[tuple[Path, subprocess.Popen[str]]] = []
    failed = False
    while waiting or running:
        while waiting and len(running) < concurrency:
            path = waiting.pop(0)
            cmd = [sys.executable, "-m", "driftwarden.flows.cli.app", "backfill", "--config", str(path), *args]
            running.append((path, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        for path, proc in list(running):
            if proc.poll() is None:
                continue
            running.remove((path, proc))
            stdout, stderr = proc.communicate()
            summaries = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
            failed |= proc.returncode != 0
            if proc.returncode not in (0, 1) or not summaries:
                err.print(f"[red]{path}: the backfill failed: {escape(stderr.strip()[-2000:])}[/red]")
                continue
            _emit(_load(path), summaries, as_json)
        time.sleep(0.2)
    return failed


def _emit(cfg: Any, summaries: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for s in summaries:
            print(json.dumps(s, default=str))
    else:
        _print_table(cfg, summaries)


def _backfill(
    config: Path, start: str, end: str, labels_now: bool, send_alerts: bool | None = None
) -> list[dict[str, Any]]:
    from rich.progress import Progress

    from driftwarden.checks.windows import windows_between
    from driftwarden.flows.monitor.tasks import load_window_json

    cfg = _load(config)
    tz = cfg.window.timezone
    start, end = _time_option(start, "--start", tz) or start, _time_option(end, "--end", tz) or end
    windows = windows_between(start, end, cfg.window_length, tz)
    if not windows:
        err.print(f"[red]no complete {cfg.window.length} window between {start} and {end}[/red]")
        raise typer.Exit(2)
    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store

    results = []
    with Progress(console=err, transient=True) as bar:
        job = bar.add_task(f"{cfg.name}: {len(windows)} windows", total=len(windows))
        for w in windows:
            as_of = None if labels_now else w.end.isoformat()
            results.append(_run_window(config, w.end.isoformat(), as_of, "backfill", send_alerts))
            bar.advance(job)
    # Later runs re-score earlier windows as labels arrive: report each window as it stands now.
    url = get_settings().resolved_store_url()
    summaries = []
    for w, result in zip(windows, results, strict=True):
        try:
            current = load_window_json(cfg, url, store.utc(w.start))
        except Exception:  # never stored (the store is down): the run's own account
            current = result
        attempt = (result.get("retrain") or {}).get("attempt")
        if attempt and current.get("retrain") is not None:  # the retraining this window's run started
            current["retrain"] = {**current["retrain"], "attempt": attempt}
        summaries.append(current)
    return summaries


def _kpi_cell(v: dict[str, Any]) -> str:
    if v.get("value") is None:
        return "[dim]pending[/dim]" if v.get("level") == "pending" else "[dim]n/e[/dim]"
    mark = {"breach": "[red]✗[/red]", "warning": "[yellow]![/yellow]", "ok": "✓", "pending": "[dim]…[/dim]"}
    return f"{v['value']:.3f} {mark.get(v.get('level') or '', '')}"


STATUS_STYLE = {"ok": "green", "warning": "yellow", "breach": "bold red", "failed": "bold magenta"}


def _print_table(cfg: Any, summaries: list[dict[str, Any]], expected: dict[str, str | None] | None = None) -> None:
    table = Table(title=f"{cfg.name}: {len(summaries)} windows", show_lines=False)
    table.add_column("window", no_wrap=True)  # what identifies a row is never cut; long lists fold instead
    for col in ("rows", "labelled", "validation"):
        table.add_column(col)
    table.add_column("drifted", overflow="fold")
    for k in cfg.kpis:
        table.add_column(
            f"{k.metric} (≥{k.target:g})" if k.direction == "higher_is_better" else f"{k.metric} (≤{k.target:g})",
            overflow="fold",
        )
    table.add_column("status", no_wrap=True)
    table.add_column("causes", overflow="fold", min_width=12)
    table.add_column("flagged on", no_wrap=True)
    daily = cfg.window_length.total_seconds() >= 86400
    retrained = any((s.get("retrain") or {}).get("attempt") for s in summaries)
    if retrained:
        table.add_column("retrain")
    if expected is not None:
        table.add_column("injected", overflow="fold")
    attempts = any(s.get("last_attempt_failed") for s in summaries)
    if attempts:
        table.add_column("latest attempt", overflow="fold")
    for s in summaries:
        st = s["status"]
        start = (s["window_start"] or "")[: 10 if daily else 16].replace("T", " ")
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
        if retrained:
            cells.append(_retrain_cell((s.get("retrain") or {}).get("attempt")))
        if expected is not None:
            cells.append(expected.get(s["window_start"]) or "")
        if attempts:
            failed = s.get("last_attempt_failed")
            cells.append(f"[red]failed: {escape(str(failed['error'])[:120])}[/red]" if failed else "")
        table.add_row(*cells)
    out.print(table)


def _retrain_cell(attempt: dict[str, Any] | None) -> str:
    if not attempt:
        return ""
    outcome = attempt.get("outcome")
    if outcome == "promoted":
        return f"[green]v{attempt.get('version')} promoted[/green]"
    if outcome == "kept":
        return f"[yellow]v{attempt.get('version')} refused[/yellow]"
    return f"[red]{outcome}[/red]"


def _print_summary(s: dict[str, Any]) -> None:
    st = s["status"]
    again = "re-scored as its labels arrived: " if s.get("trigger") == "rescore" else ""
    out.print(
        f"{again}[{STATUS_STYLE[st]}]{st.upper()}[/{STATUS_STYLE[st]}] {s.get('model')} "
        f"{s.get('window_start')} .. {s.get('window_end')}"
    )
    out.print(escape(s.get("summary") or s.get("error") or ""))
    if s.get("report"):
        out.print(f"report: {s['report']}")


@app.command()
def history(config: ConfigOpt, as_json: JsonOpt = False) -> None:
    """KPI and drift trend per window (the current version of each)."""
    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store
    from driftwarden.flows.monitor.tasks import load_window_json

    cfg = _load(config)
    url = get_settings().resolved_store_url()
    runs = store.latest_runs(store.open_store(url), cfg.name)
    summaries = [load_window_json(cfg, url, ws.to_pydatetime()) for ws in runs["window_start"]]
    if not summaries and not as_json:
        out.print(f"no runs stored for {cfg.name}")
    else:
        _emit(cfg, summaries, as_json)


def _failure_rows(log: Any) -> Any:
    """The failure log as rows ready to reuse: prediction and label as values, one column per feature."""
    import pandas as pd

    rows = log.drop(columns=["features"]).copy()
    for col in ("prediction", "label"):
        rows[col] = rows[col].map(lambda v: None if v is None else json.loads(v))
    features = pd.DataFrame([json.loads(f) for f in log["features"]], index=log.index)
    return pd.concat([rows, features.drop(columns=[c for c in features if c in rows], errors="ignore")], axis=1)


@app.command()
def failures(
    config: ConfigOpt,
    since: Annotated[str | None, typer.Option(help="Only windows starting at or after this time.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason, e.g. confident_mistake.")] = None,
    export: Annotated[Path | None, typer.Option(help="Write the selection to .parquet or .csv.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
) -> None:
    """The failure log: where and why predictions went wrong."""
    import pandas as pd

    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store

    cfg = _load(config)
    from driftwarden.checks.failures import FAILURE_REASONS

    if reason is not None and reason not in FAILURE_REASONS:
        err.print(f"[red]--reason: {escape(reason)} is not one of {', '.join(FAILURE_REASONS)}[/red]")
        raise typer.Exit(2)
    tz = cfg.window.timezone
    since_utc = store.utc(_time_option(since, "--since", tz)) if since else None
    engine = store.open_store(get_settings().resolved_store_url())
    log = store.failure_log(engine, cfg.name, since_utc, reason)
    log["window_start"] = pd.to_datetime(log["window_start"]).dt.tz_localize("UTC").dt.tz_convert(tz)
    if export is not None:
        if export.suffix not in (".parquet", ".csv"):
            err.print(f"[red]--export: {export} must end in .parquet or .csv[/red]")
            raise typer.Exit(2)
        rows = _failure_rows(log)
        if export.suffix == ".parquet":
            rows.to_parquet(export, index=False)
        else:
            rows.to_csv(export, index=False)
        out.print(f"wrote {len(rows)} failure samples to {export}")
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
    from driftwarden.config.loader import ConfigError
    from driftwarden.flows.deploy.deployments import render

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


# --- alerts: mute, unmute, ack, and the alerts group (show, flush, check-silence) ------------------------


def _duration_option(value: str, option: str) -> Any:
    from driftwarden.config.common import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        err.print(f"[red]{option}: {escape(str(exc))}[/red]")
        raise typer.Exit(2) from None


def _check_option(check: str) -> str:
    from typing import get_args

    from driftwarden.checks.alerting import Check

    names = get_args(Check)
    if check != "*" and check not in names:
        err.print(f"[red]--check: {escape(check)} is not one of {', '.join(names)} (or * for all)[/red]")
        raise typer.Exit(2)
    return check


def _alert_engine() -> Any:
    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store

    return store.open_store(get_settings().resolved_store_url())


CheckOpt = Annotated[str, typer.Option("--check", help="run_failed, volume, data_quality, input_drift, ... or *.")]


@app.command()
def mute(
    config: ConfigOpt,
    check: CheckOpt,
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 6h, 3d, 2w.")],
    reason: Annotated[str, typer.Option(help="Why (shown by `driftwarden alerts`).")],
    subject: Annotated[str, typer.Option(help="A subject (feature, KPI, expectation) or a glob.")] = "*",
) -> None:
    """Mute a check's alerts for a while (conditions are still tracked; a 'resolved' is not sent either)."""
    from driftwarden.flows import store
    from driftwarden.flows.store import alerts as alert_store

    cfg = _load(config)
    _check_option(check)
    span = _duration_option(duration, "--for")
    if not timedelta(minutes=1) <= span <= MAX_MUTE:
        err.print(f"[red]--for: a mute lasts from a minute to {MAX_MUTE.days} days, not {duration}[/red]")
        raise typer.Exit(2)
    if not reason.strip():
        err.print("[red]--reason: say why the check is muted[/red]")
        raise typer.Exit(2)
    until = store.now_utc() + span
    alert_store.add_mute(_alert_engine(), cfg.name, check, subject, until, reason.strip())
    out.print(f"muted {cfg.name} {check} {subject} until {until:%Y-%m-%d %H:%M} UTC: {escape(reason)}")


MAX_MUTE = timedelta(days=90)
"""A mute longer than this is a decision to stop watching: change the config instead."""


@app.command()
def unmute(
    config: ConfigOpt,
    check: CheckOpt,
    subject: Annotated[str | None, typer.Option(help="Only the mute of this subject pattern.")] = None,
) -> None:
    """End the active mutes of a check."""
    from driftwarden.flows.store import alerts as alert_store

    cfg = _load(config)
    _check_option(check)
    ended = alert_store.end_mutes(_alert_engine(), cfg.name, check, subject)
    out.print(f"ended {ended} mute(s) of {cfg.name} {check}")


@app.command()
def ack(
    config: ConfigOpt,
    key: Annotated[str, typer.Option(help="The condition key from the alert, e.g. credit_risk/kpi/accuracy.")],
) -> None:
    """Acknowledge an open condition: no reminders until it worsens or clears."""
    from driftwarden.flows.store import alerts as alert_store

    cfg = _load(config)
    if not alert_store.acknowledge(_alert_engine(), cfg.name, key):
        err.print(f"[red]--key: no open condition {escape(key)} for {cfg.name} (see `driftwarden alerts`)[/red]")
        raise typer.Exit(2)
    out.print(f"acknowledged {key}")


alerts_app = typer.Typer(help="Open conditions, mutes and the outbox; flush it; check for silence.")
app.add_typer(alerts_app, name="alerts")


@alerts_app.callback(invoke_without_command=True)
def alerts_show(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="The model's YAML file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Open conditions, active mutes and the outbox backlog of a model."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        err.print("[red]--config: give the model's YAML file[/red]")
        raise typer.Exit(2)
    from driftwarden.flows import store
    from driftwarden.flows.store import alerts as alert_store

    cfg = _load(config)
    engine = _alert_engine()
    now = store.now_utc()
    conds = alert_store.open_conditions(engine, cfg.name)
    mutes_ = alert_store.mute_rows(engine, cfg.name, now)
    box = alert_store.outbox_rows(engine, cfg.name)
    if as_json:
        doc = {
            "model": cfg.name,
            "open": _records(conds, ["key", "check_name", "subject", "severity", "first_seen", "last_sent",
                                     "last_value", "detail", "acknowledged"]),
            "mutes": _records(mutes_, ["check_name", "subject", "until", "reason", "created_at"]),
            "outbox": _records(box, ["id", "channel", "status", "attempts", "last_attempt", "last_error",
                                     "created_at"]),
        }  # fmt: skip
        print(json.dumps(doc, default=str))
        return
    table = Table(title=f"{cfg.name}: {len(conds)} open conditions")
    for col in ("key", "severity", "since", "last alert", "ack", "detail"):
        table.add_column(col)
    for _, r in conds.iterrows():
        sent = "" if r["last_sent"] is None or _isna(r["last_sent"]) else str(r["last_sent"])[:16]
        ack_ = "yes" if r["acknowledged"] else ""
        table.add_row(r["key"], r["severity"], str(r["first_seen"])[:16], sent, ack_, escape(r["detail"]))
    out.print(table)
    for _, m in mutes_.iterrows():
        out.print(f"muted: {m['check_name']} {m['subject']} until {str(m['until'])[:16]} UTC ({escape(m['reason'])})")
    pending = int((box["status"] == "pending").sum()) if not box.empty else 0
    dead = int((box["status"] == "dead").sum()) if not box.empty else 0
    out.print(f"outbox: {pending} pending, {dead} given up")
    for _, b in box.iterrows():
        error = escape(str(b["last_error"]))
        out.print(f"  #{b['id']} {b['channel']} {b['status']} after {b['attempts']} attempts: {error}")


def _isna(v: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def _records(frame: Any, cols: list[str]) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    return [{c: (None if _isna(r[c]) else r[c]) for c in cols} for _, r in frame.iterrows()]


@alerts_app.command("flush")
def alerts_flush(config: ConfigOpt) -> None:
    """Deliver the model's pending outbox messages now (and spooled ones, if the store is back)."""
    from driftwarden.flows.notify import delivery as alerts

    cfg = _load(config)
    engine = _alert_engine()
    spooled = alerts.drain_spool(engine)
    sent, failed, dead = alerts.deliver(cfg, engine)
    out.print(f"{cfg.name}: {sent} sent, {failed} failed, {dead} given up ({spooled} taken from the spool)")
    if failed:
        raise typer.Exit(1)


@alerts_app.command("check-silence")
def alerts_check_silence(config: ConfigOpt) -> None:
    """The dead-man's switch: alert when the model has had no successful run, rows or labels for too long."""
    from driftwarden.config.settings import get_settings
    from driftwarden.flows.notify import delivery as alerts

    cfg = _load(config)
    s = cfg.alerts.silence
    if s.no_run is None and s.no_rows is None and s.no_labels is None:
        err.print(f"[red]{config}: alerts.silence sets no threshold (no_run, no_rows, no_labels)[/red]")
        raise typer.Exit(2)
    report = alerts.check_silence(cfg, get_settings().resolved_store_url())
    opened = {k: v for k, v in report.decisions.items() if k.startswith("alert/") or k.startswith("suppress/")}
    out.print(f"{cfg.name}: silence conditions {opened or 'none'}; {report.sent} sent, {report.failed} failed")
    if any(k.startswith(("alert/", "suppress/")) for k in report.decisions):
        raise typer.Exit(1)


@app.command()
def status(
    configs: Annotated[list[Path] | None, typer.Argument(help="Model configs (default: config/*.yaml).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every configured model on one screen: last run and status, open conditions, muted checks, label
    coverage, champion, last retrain, next run."""
    import pandas as pd

    from driftwarden.config.settings import get_settings
    from driftwarden.flows.reports.status import model_status

    paths = configs or sorted(Path("config").glob("*.yaml"))
    if not paths:
        err.print(f"[red]no model configs in {Path('config').resolve()}: give their paths[/red]")
        raise typer.Exit(2)
    url = get_settings().resolved_store_url()
    now = pd.Timestamp.now(tz="UTC")
    rows = [model_status(_load(p), url, now) for p in paths]
    if as_json:
        for r in rows:
            print(json.dumps(r, default=str))
        return
    table = Table(title=f"driftwarden: {len(rows)} models")
    for col in ("model", "last window", "run at", "status", "causes", "labels", "open breaches"):
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


@app.command()
def serve(
    configs: Annotated[list[Path] | None, typer.Argument(help="Model configs (default: config/*.yaml).")] = None,
    port: Annotated[int, typer.Option(help="Port of the Prefect server started when PREFECT_API_URL is unset.")] = 4200,
) -> None:
    """Serve every model's deployments from this process with their schedules live (Prefect's serve); stop
    with Ctrl-C. With PREFECT_API_URL set, against that server; else a Prefect server of its own is started
    on 127.0.0.1 (its database under DRIFTWARDEN_HOME/prefect), since an in-process API has no scheduler."""
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from driftwarden.config.loader import ConfigError
    from driftwarden.config.settings import get_settings
    from driftwarden.flows.deploy.deployments import runner_deployments
    from driftwarden.flows.deploy.embedded import ServerError, prefect_server

    paths = configs or sorted(Path("config").glob("*.yaml"))
    try:
        deps = runner_deployments(paths, Path.cwd())
    except (ConfigError, ValueError) as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
    names = ", ".join(f"{d.flow_name}/{d.name}" for d in deps)
    if PREFECT_API_URL.value():
        err.print(f"serving {names} against {PREFECT_API_URL.value()}")
        prefect_serve(*deps, print_starting_message=False)
        return
    home = get_settings().home / "prefect"

    def stop(*_: object) -> None:  # SIGTERM (a service manager) stops the server too, as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    warnings.filterwarnings("ignore", message="coroutine 'Runner.astop' was never awaited")  # Prefect's, at exit
    try:
        with prefect_server(home, port) as url, temporary_settings(updates={PREFECT_API_URL: url}):
            err.print(f"Prefect server for the schedules at {url[: -len('/api')]} (UI; log and database in {home})")
            err.print(f"serving {names}; stop with Ctrl-C")
            prefect_serve(*deps, print_starting_message=False)
    except ServerError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None


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

    from driftwarden.config.settings import get_settings, use_store_url

    try:
        if store_url:
            use_store_url(store_url)  # this process's store: an error naming it names this one
        engine = sa.create_engine(get_settings().resolved_store_url())
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    except (KeyError, ValueError, sa.exc.ArgumentError) as exc:
        text = str(exc.args[0]) if isinstance(exc, KeyError) else str(exc)
        err.print(f"[red]{escape(text if text.startswith('--store-url') else '--store-url: ' + text)}[/red]")
        raise typer.Exit(2) from None
    return engine


@db_app.command("upgrade")
def db_upgrade(store_url: StoreUrlOpt = None) -> None:
    """Upgrade the store's schema to the newest revision (the store is also upgraded when a run opens it)."""
    from driftwarden.flows.store import schema as store_schema

    engine = _store_engine(store_url)
    before, after = store_schema.upgrade(engine)
    if before == after:
        out.print(f"{engine.dialect.name} store is up to date at revision {after}")
    else:
        out.print(f"{engine.dialect.name} store upgraded from revision {before or '(empty)'} to {after}")


@db_app.command("current")
def db_current(store_url: StoreUrlOpt = None, as_json: JsonOpt = False) -> None:
    """The store's schema revision and the newest one; exit 1 when the store needs `db upgrade`."""
    from driftwarden.flows.store import schema as store_schema

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
    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store
    from driftwarden.flows.store.retention import prune as prune_store

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
    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store
    from driftwarden.flows.store.retention import purge as purge_store

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

    from driftwarden.config.settings import get_settings, use_store_url
    from driftwarden.flows.demo import data as demo_data
    from driftwarden.flows.demo.sql import load_sql_sources

    cfg = _load(config)
    refused = demo_data.not_a_demo_config(cfg, config)
    if refused:
        err.print(f"[red]{escape(refused)}[/red]")
        raise typer.Exit(2)
    if store_url:
        try:
            use_store_url(store_url)
        except KeyError as exc:
            err.print(f"[red]{escape(str(exc.args[0]))}[/red]")
            raise typer.Exit(2) from None
    from driftwarden.flows import store

    forgotten = store.forget_model(store.open_store(get_settings().resolved_store_url()), cfg.name)
    if forgotten:
        err.print(f"the demo starts over: {forgotten} stored runs of {cfg.name} from an earlier demo were removed")
    err.print(f"generating the demo data for {cfg.name} (a model, its reference, {demo_data.NIGHTS} nights)…")
    paths = demo_data.generate(cfg, home=get_settings().home)
    for loaded in load_sql_sources(cfg, paths):
        err.print(f"loaded {loaded.rows} {loaded.source} rows into table {loaded.table}")
    start, end = demo_data.demo_range(cfg.window.timezone)
    summaries = _backfill(config, start.isoformat(), end.isoformat(), labels_now=False)
    expected = {}
    new_champion_from = demo_data.promotion_night(cfg, cfg.window.timezone)
    for s in summaries:
        night = (pd.Timestamp(s["window_start"]).tz_convert(cfg.window.timezone).normalize() - start).days + 1
        expected[s["window_start"]] = demo_data.expected_cause(night, new_champion_from)
    if as_json:
        for s in summaries:
            print(json.dumps({**s, "injected": expected[s["window_start"]]}, default=str))
    else:
        _print_table(cfg, summaries, expected)
        _print_demo_check(summaries, expected)
        if new_champion_from is not None:
            out.print(
                f"the concept change led to a retrain: the challenger won on nights it never trained on and was "
                f"promoted; nights {new_champion_from}-{demo_data.NIGHTS} were scored by it "
                f"(`driftwarden models --config {config}` shows the figures)"
            )
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


def _install_lifecycle_commands() -> None:
    from driftwarden.flows.cli.models import install

    install(app)


_install_lifecycle_commands()

if __name__ == "__main__":
    main()
