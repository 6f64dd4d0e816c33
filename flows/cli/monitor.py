"""Monitoring commands: validate, run, backfill, history, failures (and the window table the demo prints too)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from driftwarden.config.settings import get_settings
from driftwarden.flows.cli.app import (
    STATUS_STYLE,
    ConfigOpt,
    JsonOpt,
    app,
    err,
    exit_with_error,
    load,
    out,
    time_option,
)


@app.command()
def validate(config: ConfigOpt) -> None:
    """Check a config and its sources without running anything."""
    from driftwarden.flows.monitor.checkup import check_sources

    cfg = load(config)
    problems, notes = check_sources(cfg)
    for line in notes:
        out.print(f"[green]ok[/green]  {line}")
    for line in problems:
        err.print(f"[red]error[/red] {escape(line)}")
    if problems:
        raise typer.Exit(1)
    out.print(f"{config}: valid ({cfg.name}, {cfg.task}, {len(cfg.columns.features)} features)")


def _run_window(
    config: Path,
    window_end: str | None,
    as_of: str | None,
    trigger: str,
    send_alerts: bool | None = None,
    evidently: bool = False,
) -> dict[str, Any]:
    """One monitor-model run; whatever happens, the window's JSON (failed runs included)."""
    import pandas as pd
    from prefect import tags

    from driftwarden.checks import records
    from driftwarden.flows import runtime
    from driftwarden.flows.deploy.embedded import embedded, wait_embedded_api
    from driftwarden.flows.errors import first_line
    from driftwarden.flows.monitor.flow import MonitorFailed, monitor_model

    # On the embedded default nobody sees task runs (the ephemeral API keeps none): the steps run as plain calls.
    inline = runtime.inline_steps() if embedded() else nullcontext()
    requested_at = pd.Timestamp.now(tz="UTC").isoformat()  # before waiting for the API: another run may be quicker
    try:
        wait_embedded_api()
        with tags("driftwarden", f"model:{load(config).name}"), inline:  # as the deployments' runs are tagged
            return monitor_model(
                str(config), window_end=window_end, as_of=as_of, trigger=trigger, send_alerts=send_alerts,
                evidently=evidently, requested_at=requested_at,
            )  # fmt: skip
    except MonitorFailed as exc:
        return exc.summary
    except Exception as exc:  # Prefect itself failed (e.g. its server could not start, or went away mid-run)
        stored = _stored_since(config, window_end, pd.Timestamp(requested_at))
        if stored is not None:  # the verdict is in the store: only Prefect's records of the run are missing
            err.print(
                f"{escape(stored['model'])}: warning: Prefect's API (PREFECT_API_URL) was lost during the run "
                f"({escape(first_line(exc))}); the window's verdict was stored (version {stored['run_version']}) "
                "and is reported here, but Prefect's records of this flow run are incomplete",
                soft_wrap=True,
            )
            return stored
        error = f"{type(exc).__name__}: {exc}"
        return records.window_json(records.failed_run(None, None, window_end, error), pd.DataFrame(), 0, [])


def _stored_since(config: Path, window_end: str | None, since: Any) -> dict[str, Any] | None:
    """The window's current version when this process's run, started at or after ``since``, stored it; else
    None (also when another run of the window stored it meanwhile: its verdict is not this command's)."""
    import pandas as pd

    from driftwarden.checks.windows import scheduled_window, window_ending_at
    from driftwarden.flows import store
    from driftwarden.flows.monitor.tasks import load_window_json
    from driftwarden.flows.runtime import parse_time

    try:
        cfg = load(config)
        tz = cfg.window.timezone
        if window_end is None:  # the window a scheduled run resolves
            window = scheduled_window(pd.Timestamp.now(tz="UTC"), cfg.window_length, tz, cfg.lateness)
        else:
            window = window_ending_at(parse_time(window_end, "window_end", tz), cfg.window_length, tz)
        url = get_settings().resolved_store_url()
        start = store.utc(window.start)
        current = store.latest_runs(store.open_store(url), cfg.name, start=start, end=start + pd.Timedelta(seconds=1))
        if current.empty or store.utc(pd.Timestamp(current["started_at"].iloc[-1])) < store.utc(since):
            return None
        mine = store.version_written_here(cfg.name, start)  # not a version another run stored meanwhile
        if mine is None or int(current["run_version"].iloc[-1]) != mine:
            return None
        return load_window_json(cfg, url, start)
    except Exception:  # the store is down too: the run's own error is what can be told
        return None


def _missed_before_scheduled(cfg: Any) -> Any:
    """The windows a scheduled run catches up first (the flow finds the same ones), to report them."""
    import pandas as pd

    from driftwarden.checks.windows import scheduled_window
    from driftwarden.flows.monitor.missed_windows import plan_catch_up

    window = scheduled_window(pd.Timestamp.now(tz="UTC"), cfg.window_length, cfg.window.timezone, cfg.lateness)
    try:
        return plan_catch_up(cfg, get_settings().resolved_store_url(), window)
    except Exception:  # the store is down: the run itself reports it
        return None


def _caught_up(cfg: Any, missed: Any) -> list[dict[str, Any]]:
    from driftwarden.flows import store
    from driftwarden.flows.monitor.tasks import load_window_json

    summaries = []
    for w in missed.windows if missed is not None else ():
        try:
            summaries.append(load_window_json(cfg, get_settings().resolved_store_url(), store.utc(w.start)))
        except Exception:  # its run stored nothing (the store went down): the scheduled run says why
            continue
    return summaries


@app.command()
def run(
    config: ConfigOpt,
    window_end: Annotated[str | None, typer.Option(help="End of the window (default: last complete).")] = None,
    as_json: JsonOpt = False,
    evidently: Annotated[
        bool, typer.Option("--evidently", help="Draw Evidently's drift report even if the window has no finding.")
    ] = False,
) -> None:
    """Run one window as the Prefect flow monitor-model."""
    cfg = load(config)
    missed = _missed_before_scheduled(cfg) if window_end is None else None
    end = time_option(window_end, "--window-end", cfg.window.timezone)
    if end is not None:
        _refuse_unended(cfg, end, window_end)
    summary = _run_window(config, end, None, "run", evidently=evidently)
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


def _refuse_unended(cfg: Any, end: str, given: str | None) -> None:
    """A window that has not ended is refused before anything runs (exit 2, naming the option): its predictions
    and labels are not all in, and an 'ok' now would be a verdict on half a window."""
    import pandas as pd

    from driftwarden.checks.windows import window_ending_at

    tz = cfg.window.timezone
    window = window_ending_at(end, cfg.window_length, tz)
    now = pd.Timestamp.now(tz="UTC")
    if window.end > now:
        exit_with_error(
            f"--window-end {given}: the window {window.label} has not ended yet (now is "
            f"{now.tz_convert(tz):%Y-%m-%d %H:%M %Z}); monitor it once it has",
            2,
        )


def _rescored(cfg: Any, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Earlier windows whose status this run's label catch-up changed, as they stand now (trigger rescore)."""
    import pandas as pd

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
    resume: Annotated[
        bool, typer.Option(help="Skip the windows a stopped backfill of the same range already replayed.")
    ] = True,
    per_window: Annotated[
        bool, typer.Option("--per-window", help="One monitor-model flow run per window (slower; as before).")
    ] = False,
) -> None:
    """Replay history: every window, labels as they were known at each window's end, in one flow run.

    A model's windows run in time order (each window's verdict reads the earlier ones: the consecutive-breach
    rule, the recent volume, label catch-up); several models run side by side, ``--concurrency`` at a time,
    each in a process of its own. With --json, each window's line is printed as soon as no later window can
    re-score it (a label horizon later, or at the end): one line a window, as it stands at the end."""
    for path in config:
        load(path)  # every config is checked before anything runs
    if len(config) > 1:
        failed = _backfill_models(config, start, end, as_json, labels_now, alerts, concurrency, resume, per_window)
        if failed:
            raise typer.Exit(1)
        return
    cfg = load(config[0])
    emit = _line_printer() if as_json else None
    summaries = backfill_windows(
        config[0], start, end, labels_now, send_alerts=True if alerts else None, resume=resume, per_window=per_window,
        on_final=emit,
    )  # fmt: skip
    if not as_json:
        print_table(cfg, summaries)
    if any(s["status"] == "failed" for s in summaries):
        raise typer.Exit(1)


def _line_printer() -> Callable[[dict[str, Any]], None]:
    def emit(summary: dict[str, Any]) -> None:
        print(json.dumps(summary, default=str), flush=True)  # a pipe reads each window as it is final

    return emit


def _backfill_models(
    configs: list[Path],
    start: str,
    end: str,
    as_json: bool,
    labels_now: bool,
    alerts: bool,
    concurrency: int,
    resume: bool = True,
    per_window: bool = False,
) -> bool:
    """One ``driftwarden backfill`` process per model, ``concurrency`` at a time; their windows printed per
    model as they finish. True when some run failed."""
    import subprocess
    import time

    args = ["--start", start, "--end", end, "--json", *(["--labels-now"] if labels_now else [])]
    args += ["--alerts"] if alerts else []
    args += [] if resume else ["--no-resume"]
    args += ["--per-window"] if per_window else []
    waiting = list(configs)
    running: list[tuple[Path, subprocess.Popen[str]]] = []
    failed = False
    while waiting or running:
        while waiting and len(running) < concurrency:
            path = waiting.pop(0)
            cmd = [sys.executable, "-m", "driftwarden.flows.cli", "backfill", "--config", str(path), *args]
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
            _emit(load(path), summaries, as_json)
        time.sleep(0.2)
    return failed


def _emit(cfg: Any, summaries: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for s in summaries:
            print(json.dumps(s, default=str))
    else:
        print_table(cfg, summaries)


def backfill_windows(
    config: Path,
    start: str,
    end: str,
    labels_now: bool,
    send_alerts: bool | None = None,
    resume: bool = True,
    per_window: bool = False,
    on_final: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every complete window between ``start`` and ``end``, in time order, each as it stands once all have run
    (later runs re-score earlier ones); ``on_final`` is told each as soon as it is final. On a terminal, a
    progress bar: windows done, their rate and the time left."""
    from driftwarden.checks.windows import windows_between

    cfg = load(config)
    tz = cfg.window.timezone
    start, end = time_option(start, "--start", tz) or start, time_option(end, "--end", tz) or end
    windows = windows_between(start, end, cfg.window_length, tz)
    if not windows:
        exit_with_error(f"no complete {cfg.window.length} window between {start} and {end}", 2)
    with _progress(f"{cfg.name}: {len(windows)} windows", len(windows)) as advance:
        if per_window:
            summaries = _backfill_per_window(cfg, config, windows, labels_now, send_alerts, advance)
            for s in summaries:
                if on_final is not None:
                    on_final(s)
            return summaries
        from driftwarden.flows.monitor import backfill as replay

        def listen(kind: str, summary: dict[str, Any]) -> None:
            if kind == "stored":
                advance()
            elif on_final is not None:
                on_final(summary)

        try:
            from driftwarden.flows.deploy.embedded import wait_embedded_api

            wait_embedded_api()
            with replay.observe(listen):
                return replay.backfill(str(config), start, end, labels_now, send_alerts, resume)
        except Exception as exc:  # Prefect itself failed (its server, the flow's timeout): what ran is stored
            exit_with_error(
                f"{cfg.name}: the backfill stopped: {type(exc).__name__}: {exc}. The windows replayed so far are "
                "stored; the same command resumes after them.",
                1,
            )


@contextmanager
def _progress(title: str, total: int) -> Iterator[Callable[[], None]]:
    """Windows done, rate and time left, on a terminal (stderr) only: a pipe gets the lines alone."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not err.is_terminal:
        yield lambda: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        job = bar.add_task(title, total=total, rate="")
        started = time.monotonic()

        def advance() -> None:
            bar.advance(job)
            done, spent = bar.tasks[0].completed, time.monotonic() - started
            bar.update(job, rate=f"{done / spent:.1f} windows/s" if spent > 0 else "")

        yield advance


def _backfill_per_window(
    cfg: Any,
    config: Path,
    windows: list[Any],
    labels_now: bool,
    send_alerts: bool | None,
    advance: Callable[[], None],
) -> list[dict[str, Any]]:
    """One monitor-model flow run per window (each its own run in Prefect's UI), then the label catch-up the
    last ones are owed (a catch-up-labels flow run)."""
    from driftwarden.flows.monitor.backfill import as_it_stands, catch_up_labels

    results = []
    for w in windows:
        as_of = None if labels_now else w.end.isoformat()
        results.append(_run_window(config, w.end.isoformat(), as_of, "backfill", send_alerts))
        advance()
    catch_up_labels(str(config), windows[-1].end.isoformat(), labels_now)
    # Later runs re-score earlier windows as labels arrive: report each window as it stands now.
    url = get_settings().resolved_store_url()
    return [as_it_stands(cfg, url, w, result) for w, result in zip(windows, results, strict=True)]


def _kpi_cell(v: dict[str, Any], estimate: dict[str, Any] | None = None) -> str:
    """The realized KPI with its mark, and beside it the estimate from the model's confidence (``est``): before
    the labels, the only figure there is."""
    est = ""
    if estimate and estimate.get("value") is not None:
        style = "yellow" if estimate.get("beyond_target") else "dim"
        est = f"\n[{style}]est {estimate['value']:.3f}[/{style}]"  # its own line: a narrow column folds it anyway
    if v.get("value") is None:
        return ("[dim]pending[/dim]" if v.get("level") == "pending" else "[dim]n/e[/dim]") + est
    mark = {"breach": "[red]✗[/red]", "warning": "[yellow]![/yellow]", "ok": "✓", "pending": "[dim]…[/dim]"}
    return f"{v['value']:.3f} {mark.get(v.get('level') or '', '')}{est}"


def print_table(cfg: Any, summaries: list[dict[str, Any]], expected: dict[str, str | None] | None = None) -> None:
    """One row per window; with ``expected`` (the demo's injected causes) a column for them."""
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
    retrained = any(
        (s.get("retrain") or {}).get("attempt") or (s.get("retrain") or {}).get("promotion") for s in summaries
    )
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
            *[_kpi_cell(s["kpis"].get(k.metric, {}), (s.get("estimates") or {}).get(k.metric)) for k in cfg.kpis],
            f"[{STATUS_STYLE[st]}]{st}[/{STATUS_STYLE[st]}]",
            ", ".join(s["causes"]) or "—",
            (s.get("status_since") or "")[:10] if st == "breach" else "",
        ]
        if retrained:
            cells.append(_retrain_cell(s.get("retrain")))
        if expected is not None:
            cells.append(expected.get(s["window_start"]) or "")
        if attempts:
            failed = s.get("last_attempt_failed")
            cells.append(f"[red]failed: {escape(str(failed['error'])[:120])}[/red]" if failed else "")
        table.add_row(*cells)
    out.print(table)


def _retrain_cell(retrain: dict[str, Any] | None) -> str:
    """The retrain a window started, and a pending challenger this window's run decided."""
    retrain = retrain or {}
    cells = []
    decided = retrain.get("promotion") or {}
    if decided.get("state") in ("promoted", "refused", "expired"):
        colour = "green" if decided["state"] == "promoted" else "yellow"
        cells.append(f"[{colour}]v{decided.get('version')} {decided['state']} (shadow)[/{colour}]")
    attempt = retrain.get("attempt")
    if attempt:
        outcome = attempt.get("outcome")
        if outcome == "promoted":
            cells.append(f"[green]v{attempt.get('version')} promoted[/green]")
        elif outcome == "kept":
            cells.append(f"[yellow]v{attempt.get('version')} refused[/yellow]")
        elif outcome == "pending":
            cells.append(f"[cyan]v{attempt.get('version')} pending[/cyan]")
        else:
            cells.append(f"[red]{outcome}[/red]")
    return "; ".join(cells)


def _print_summary(s: dict[str, Any]) -> None:
    st = s["status"]
    again = "re-scored as its labels arrived: " if s.get("trigger") == "rescore" else ""
    out.print(
        f"{again}[{STATUS_STYLE[st]}]{st.upper()}[/{STATUS_STYLE[st]}] {s.get('model')} "
        f"{s.get('window_start')} .. {s.get('window_end')}"
    )
    out.print(escape(s.get("summary") or s.get("error") or ""))
    estimated = [_estimate_words(m, e) for m, e in (s.get("estimates") or {}).items()]
    if estimated:
        out.print("estimated from the model's confidence: " + "; ".join(estimated))
    if s.get("report"):
        out.print(f"report: {s['report']}")


def _estimate_words(metric: str, e: dict[str, Any]) -> str:
    """'accuracy 0.871 [0.860, 0.882] (realized 0.866)', or why it is not estimated."""
    if e.get("value") is None:
        return f"{metric} not estimable ({e.get('not_estimable')})"
    words = f"{metric} {e['value']:.3f} [{e['lower']:.3f}, {e['upper']:.3f}]"
    return words + (f" (realized {e['realized']:.3f})" if e.get("realized") is not None else "")


@app.command()
def history(config: ConfigOpt, as_json: JsonOpt = False) -> None:
    """KPI and drift trend per window (the current version of each)."""
    from driftwarden.flows import store
    from driftwarden.flows.monitor.tasks import load_window_json

    cfg = load(config)
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

    from driftwarden.flows import store

    cfg = load(config)
    from driftwarden.checks.failures import FAILURE_REASONS

    if reason is not None and reason not in FAILURE_REASONS:
        exit_with_error(f"--reason: {reason} is not one of {', '.join(FAILURE_REASONS)}", 2)
    tz = cfg.window.timezone
    since_utc = store.utc(time_option(since, "--since", tz)) if since else None
    engine = store.open_store(get_settings().resolved_store_url())
    log = store.failure_log(engine, cfg.name, since_utc, reason)
    log["window_start"] = pd.to_datetime(log["window_start"]).dt.tz_localize("UTC").dt.tz_convert(tz)
    if export is not None:
        if export.suffix not in (".parquet", ".csv"):
            exit_with_error(f"--export: {export} must end in .parquet or .csv", 2)
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
