"""The nightly monitoring run of one model and one window: a recipe of named steps (tasks.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger

from driftwarden.checks import records
from driftwarden.checks.verdict import Finding, overdue_finding
from driftwarden.checks.windows import Window
from driftwarden.config.loader import ConfigError
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import runtime, store
from driftwarden.flows.monitor import label_catchup, missed_windows
from driftwarden.flows.monitor import tasks as monitor_tasks
from driftwarden.flows.notify import delivery as alerts
from driftwarden.flows.pauses import pause_at
from driftwarden.flows.reports import model_page, postmortems
from driftwarden.flows.retrain import shadow as retrain_shadow
from driftwarden.flows.retrain import trigger as retrain_trigger
from driftwarden.flows.scoring.flow import predict_window
from driftwarden.flows.sources.labelled import read_labelled
from driftwarden.flows.store import locks, retention


@dataclass
class _Attempt:
    """The run in progress, as its failure record needs it (``as_of`` moves once the known labels are read)."""

    cfg: ModelConfig
    store_url: str
    window: Window
    trigger: str
    started: datetime
    as_of: pd.Timestamp
    requested: datetime
    """When the run was asked for (naive UTC): a version of the window started since then is another run's."""


class MonitorFailed(RuntimeError):
    """The run could not be completed; ``summary`` is the failed run in the JSON contract."""

    def __init__(self, summary: dict[str, Any]):
        super().__init__(summary.get("error") or "monitoring run failed")
        self.summary = summary


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    return f"{Path(params['config_path']).stem}-{params.get('window_end') or 'latest'}"


@flow(
    name="monitor-model", flow_run_name=_run_name, timeout_seconds=3 * 3600
)  # a hung read gives up; the lock is let go
def monitor_model(
    config_path: str,
    window_end: str | None = None,
    as_of: str | None = None,
    trigger: str = "run",
    send_alerts: bool | None = None,
    evidently: bool = False,
    requested_at: str | None = None,
) -> dict[str, Any]:
    """Monitor one window of one model. ``window_end`` defaults to the end of the last complete window;
    ``as_of`` (default: now) is the moment whose known labels are used (a backfill replays history).
    ``send_alerts``: None alerts on every trigger but ``backfill``; True or False forces it. Evidently's drift
    report is drawn for a window with a finding, and for any window with ``evidently``. ``requested_at``: when
    the run was asked for (a command's start): a run of the window that started after it and stored a version
    meanwhile makes this one a duplicate, refused."""
    try:
        cfg = runtime.load_config(config_path)
        window = runtime.resolve_window(cfg, window_end)
        as_of_ts: pd.Timestamp = runtime.resolve_as_of(as_of)
    except (ConfigError, ValueError) as exc:
        raise MonitorFailed(_unstored_failure(config_path, exc)) from exc
    store_url = get_settings().resolved_store_url()
    if window_end is None:  # a scheduled run: first the windows missed since the last successful one
        _catch_up_missed(config_path, cfg, store_url, window)
    asked = store.utc(pd.Timestamp(requested_at)) if requested_at else None
    return monitor_window(
        config_path, cfg, store_url, window, as_of_ts, trigger, send_alerts, evidently, requested_at=asked
    )


def monitor_window(
    config_path: str,
    cfg: ModelConfig,
    store_url: str,
    window: Window,
    as_of: pd.Timestamp,
    trigger: str,
    send_alerts: bool | None,
    evidently: bool = True,
    await_retrain: bool = False,
    artifact: bool = True,
    requested_at: datetime | None = None,
) -> dict[str, Any]:
    """The steps of one window's run, in the current flow run: monitor-model's body, and each window of a
    backfill. ``evidently``: draw the Evidently page even with no finding; ``await_retrain``: a retrain started
    through its deployment is waited for, so that the next window is replayed with the champion it leaves;
    ``artifact``: publish the run's summary as the model's Prefect artifact (a backfill, for its last window)."""
    started = store.now_utc()
    attempt = _Attempt(cfg, store_url, window, trigger, started, as_of, requested_at or started)
    lock = _lock_window(attempt, send_alerts)
    try:
        # A challenger waiting for its shadow windows is decided first, so that a promotion serves this window
        promotion = retrain_shadow.decide_pending(cfg, store_url, as_of)
        if cfg.retrain.scoring.enabled:  # batch scoring: the champion scores the window if nobody has yet
            predict_window(cfg, window)
        reference = monitor_tasks.ensure_reference(cfg, store_url)
        models = monitor_tasks.reference_models(cfg, reference)
        as_of = attempt.as_of = monitor_tasks.known_as_of(cfg, store_url, window, as_of)
        earlier = monitor_tasks.catchup_windows(cfg, store_url, window)  # what label catch-up still owes
        labels, labels_down = _read_labels(cfg, window, as_of, reference, earlier)
        scan = monitor_tasks.scan_window(cfg, store_url, window, reference, labels, earlier, models)
        rescored = label_catchup.rescore_earlier_windows(cfg, store_url, window, scan.earlier, as_of, reference, models)
        kpis = monitor_tasks.window_kpis(cfg, store_url, window, scan, as_of)
        recent = monitor_tasks.recent_volumes(cfg, store_url, window)
        inputs = monitor_tasks.check_inputs(cfg, scan, scan.window.labelled, reference, recent, models)
        inputs = monitor_tasks.share_states(cfg, store_url, window, inputs, as_of)
        failures = monitor_tasks.pick_failures(cfg, scan)
        late = overdue_finding(cfg, window.end, as_of, kpis.labelled, kpis.rows)
        estimated = monitor_tasks.window_estimates(cfg, models, scan, kpis)
        verdict = monitor_tasks.decide(cfg, inputs, kpis, late, estimated, labels_down)
        drifted = any(f.check == "drift" and f.level == "breach" for f in verdict.findings)  # the dataset rule
        if cfg.estimation.retrain:  # an estimate held to breach starts a retrain as input drift does
            drifted = drifted or any(f.check == "estimate" and f.level == "breach" for f in verdict.findings)
        retrain = retrain_trigger.retrain_decision(cfg, store_url, window, kpis, verdict.causes, as_of, drifted)
        metric_rows = records.input_metric_rows(inputs.volume, inputs.validation, inputs.drift)
        metric_rows += records.multivariate_metric_rows(inputs.multivariate)
        metric_rows += records.estimate_metric_rows(estimated, models.fitted_on)
        metric_rows += records.kpi_metric_rows(kpis) + retrain_trigger.retrain_rows(retrain, cfg.retrain.auto)
        metric_rows += retrain_shadow.promotion_rows(promotion)
        draw = evidently or any(f.level != "note" for f in verdict.findings)  # a finding: its page is drawn
        report, report_error = _write_evidence(cfg, window, scan, reference, verdict, metric_rows, started, draw)
        run = monitor_tasks.run_record(cfg, window, trigger, started, as_of, reference, kpis, verdict, report)
        if labels_down:  # no label was known: stored as of the window's end, so label catch-up still owes it
            run = replace(run, as_of=min(run.as_of or store.utc(window.end), store.utc(window.end)))
        if report_error is not None:  # the verdict is stored without its page, and says why
            run = replace(run, error=report_error, summary=f"{run.summary}\n{report_error}")
        monitor_tasks.store_run(store_url, run, metric_rows, failures)
    except Exception as exc:
        failed = _record_failure(attempt, exc)
        alerts.notify_window(cfg, store_url, failed, trigger, send_alerts)
        raise MonitorFailed(failed) from exc
    finally:
        locks.release_quietly(store_url, lock)
    summary = monitor_tasks.window_summary(cfg, store_url, store.utc(window.start))
    summary["rescored"] = [r for r in rescored if r["status"] != r["previous"]]  # e.g. a concept change caught
    if artifact:
        monitor_tasks.publish_artifact(cfg, summary)
    if trigger != "backfill":  # a backfill refreshes them once, at its end
        summary["incidents"] = refresh_reports(cfg, store_url, config_path, window)
    notified = alerts.notify_window(cfg, store_url, summary, trigger, send_alerts)
    if trigger != "backfill" and _alerts_moved(notified):
        refresh_after_alert(cfg, store_url)
    retention.prune_after_run(cfg, store_url)
    if retrain.retrain and cfg.retrain.auto:
        started_retrain = retrain_trigger.start_retraining(cfg.name, config_path, retrain, as_of, await_retrain)
        brief = retrain_trigger.attempt_brief(started_retrain)
        summary["retrain"] = {**(summary["retrain"] or {}), "attempt": brief}
    get_run_logger().info("%s %s: %s %s", cfg.name, window.label, summary["status"], summary["causes"])
    return summary


def _read_labels(
    cfg: ModelConfig,
    window: Window,
    as_of: pd.Timestamp,
    reference: Any,
    earlier: list[tuple[pd.Timestamp, pd.Timestamp]],
) -> tuple[pd.DataFrame | None, tuple[Finding, ...]]:
    """The labels known as of the run, or none and a warning naming the labels' error when their source cannot
    be read: drift and validation need only the predictions, and the KPIs are scored by a later run (label
    catch-up) once the labels are back. Labels that are read but refused (another encoding) still fail the run."""
    try:
        return monitor_tasks.read_known_labels(cfg, window, as_of, reference, earlier), ()
    except monitor_tasks.LabelsUnavailable as exc:
        get_run_logger().warning("%s %s: %s", cfg.name, window.label, exc)
        detail = f"{exc}; the KPIs wait for the labels (a later run scores this window when they are back)"
        return monitor_tasks.no_labels(cfg), (Finding("labels", "warning", detail),)


def _write_evidence(cfg: ModelConfig, window: Window, *args: Any) -> tuple[str | None, str | None]:
    """The run's page, or why it could not be written. A report location that cannot take it (read-only, full,
    a path through a file) never fails the run: the verdict is what the run is for, the page is a view of it."""
    try:
        return monitor_tasks.write_evidence(cfg, window, *args), None
    except Exception as exc:
        where = get_settings().resolved_reports_dir()
        error = (
            f"the run's report could not be written to {where} (DRIFTWARDEN_REPORTS_DIR): {type(exc).__name__}: {exc}"
        )
        get_run_logger().warning("%s %s: %s", cfg.name, window.label, error)
        return None, error


def refresh_reports(cfg: ModelConfig, store_url: str, config_path: str, window: Window | None) -> list[dict[str, Any]]:
    """After a stored run: the model's incidents and post-mortems, then its page. Never raises (the verdict is
    stored; these are reports of it). Returns what an alert carries of the incidents open or touching
    ``window``. "Where it fails" is learned from the sources for an incident with a KPI cause only when its
    windows or their labelled rows changed since it was stored."""
    pause_at("reports")  # the verdict stored, its reports and alerts not yet
    refreshed = postmortems.refresh_quietly(cfg, store_url, publish=True, reader=read_labelled)
    model_page.refresh_model_page(cfg, store_url)
    start = store.utc(window.start) if window is not None else None
    return [
        r.brief(config_path)
        for r in refreshed
        if r.incident.state == "open" or any(w.window_start == start for w in r.incident.windows)
    ]


def _alerts_moved(report: alerts.NotifyReport) -> bool:
    """Whether the notify step changed what the outbox says: a message queued, delivered or given up on."""
    return bool(report.queued or report.sent or report.dead)


def refresh_after_alert(cfg: ModelConfig, store_url: str) -> None:
    """The post-mortems and the model page again once the alert is out: the first refresh ran before it (the
    alert names its incidents), so they would still say no alert was sent. Only the post-mortems whose
    document changed are rewritten, and "Where it fails" is taken from the store (its basis did not move)."""
    postmortems.refresh_quietly(cfg, store_url, publish=True)
    model_page.refresh_model_page(cfg, store_url)


def _catch_up_missed(config_path: str, cfg: ModelConfig, store_url: str, window: Window) -> None:
    """Monitor the missed windows, oldest first, each as a run of its own (a failure is stored by that run
    and retried by the next scheduled one); say so in the log."""
    try:
        plan = missed_windows.find_missed_windows(cfg, store_url, window)
    except Exception as exc:  # the scheduled window's own run reports a store that is down
        get_run_logger().warning("%s: could not look for missed windows: %s", cfg.name, exc)
        return
    for missed in plan.windows:
        try:
            monitor_model(config_path, window_end=missed.end.isoformat(), trigger="missed")
        except MonitorFailed:
            pass
    if plan.windows:
        get_run_logger().warning("%s: %s", cfg.name, plan.note(config_path))


def _lock_window(attempt: _Attempt, send_alerts: bool | None) -> locks.WindowLock:
    """Take the window's lock. Another run holding it is a refusal that stores nothing (the window's versions
    belong to that run); a store that cannot be reached fails the run as any other store error does, and
    says so to the people on call (spooled, and tried directly, since the store cannot hold the outbox)."""
    cfg, store_url, window, trigger = attempt.cfg, attempt.store_url, attempt.window, attempt.trigger
    try:
        ttl = timedelta(seconds=get_settings().run_lock_ttl)
        engine = store.open_store(store_url)
        lock = locks.acquire(engine, cfg.name, store.utc(window.start), f"window {window.label}", ttl)
        _refuse_if_done_meanwhile(engine, attempt, lock)
        return lock
    except locks.WindowBusy as exc:
        get_run_logger().error("%s", exc)
        run = records.failed_run(
            cfg.name, store.utc(window.start), store.utc(window.end), str(exc), trigger=trigger,
            as_of=store.utc(attempt.as_of),
        )  # fmt: skip
        summary = records.window_json(run, pd.DataFrame(), 0, [k.metric for k in cfg.kpis], cfg.window.timezone)
        raise MonitorFailed(summary) from exc
    except Exception as exc:
        failed = _record_failure(attempt, exc)
        alerts.notify_window(cfg, store_url, failed, trigger, send_alerts)
        raise MonitorFailed(failed) from exc


def _refuse_if_done_meanwhile(engine: Any, attempt: _Attempt, lock: locks.WindowLock) -> None:
    """Runs of one window asked for together (two schedulers, a retried job): the one that got the lock first
    stored its version and let go before this one reached the lock. This one would store the same window again
    from the same data; it is refused instead, as while that run held the lock."""
    start = store.utc(attempt.window.start)
    current = store.latest_runs(engine, attempt.cfg.name, start=start, end=start + timedelta(seconds=1))
    if current.empty or pd.Timestamp(current["started_at"].iloc[0]) < pd.Timestamp(attempt.requested):
        return
    locks.release(engine, lock)
    raise locks.WindowBusy(
        f"window {attempt.window.label} of model {attempt.cfg.name} was monitored by another run meanwhile: "
        f"version {int(current['run_version'].iloc[0])}, started {current['started_at'].iloc[0]:%Y-%m-%d %H:%M:%S} "
        f"UTC, after this run was asked for ({attempt.requested:%Y-%m-%d %H:%M:%S} UTC); nothing stored by this one"
    )


def _record_failure(attempt: _Attempt, exc: Exception) -> dict[str, Any]:
    """Store the failed run as a new version (an earlier good result stays current) and return its JSON.
    If the store itself is down, say so in the error instead of raising a second exception."""
    cfg, window, trigger = attempt.cfg, attempt.window, attempt.trigger
    error = store.describe_error(attempt.store_url, exc) or f"{type(exc).__name__}: {exc}"
    get_run_logger().error("%s %s failed: %s", cfg.name, window.label, error)
    run = records.failed_run(
        cfg.name, store.utc(window.start), store.utc(window.end), error, trigger=trigger, as_of=store.utc(attempt.as_of)
    )
    try:
        record = store.RunRecord(
            model=cfg.name,
            window_start=run["window_start"],
            window_end=run["window_end"],
            trigger=trigger,
            status="failed",
            started_at=attempt.started,
            as_of=run["as_of"],
            error=error,
            summary=run["summary"],
        )
        _, run["run_version"], _ = store.write_run(store.open_store(attempt.store_url), record, [])
    except Exception as store_exc:
        said = store.describe_error(attempt.store_url, store_exc) or f"{type(store_exc).__name__}: {store_exc}"
        either = "the failure could not be stored either"
        run["error"] = f"{error} ({either})" if said == error else f"{error}; {either}: {said}"
    return records.window_json(run, pd.DataFrame(), 0, [k.metric for k in cfg.kpis], cfg.window.timezone)


def _unstored_failure(config_path: str, exc: Exception) -> dict[str, Any]:
    """A run that failed before a model and window were known (a bad config or a bad time)."""
    run = records.failed_run(None, None, None, str(exc))
    return {**records.window_json(run, pd.DataFrame(), 0, []), "config": config_path}
