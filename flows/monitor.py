"""The nightly monitoring run of one model and one window: a recipe of named steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger

from checks import records
from checks.verdict import input_findings
from config.loader import ConfigError
from config.settings import get_settings
from flows import steps, store


class MonitorFailed(RuntimeError):
    """The run could not be completed; ``summary`` is the stored failed run in the JSON contract."""

    def __init__(self, summary: dict[str, Any]):
        super().__init__(summary.get("error") or "monitoring run failed")
        self.summary = summary


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    return f"{Path(params['config_path']).stem}-{params.get('window_end') or 'latest'}"


@flow(name="monitor-model", flow_run_name=_run_name)
def monitor_model(
    config_path: str, window_end: str | None = None, as_of: str | None = None, trigger: str = "run"
) -> dict[str, Any]:
    """Monitor one window of one model. ``window_end`` defaults to the end of the last complete window;
    ``as_of`` (default: now) is the moment whose known labels are used (a backfill replays history)."""
    try:
        cfg = steps.load_config(config_path)
    except ConfigError as exc:
        raise MonitorFailed(_config_failure(config_path, exc)) from exc
    store_url = get_settings().resolved_store_url()
    window = steps.resolve_window(cfg, window_end)
    as_of_ts = pd.Timestamp(as_of) if as_of else pd.Timestamp.now(tz="UTC")
    as_of_ts = as_of_ts.tz_localize("UTC") if as_of_ts.tzinfo is None else as_of_ts
    started = store.now_utc()
    try:
        reference = steps.ensure_reference(cfg, store_url)
        data = steps.read_window_data(cfg, window, as_of_ts)
        steps.rescore_earlier_windows(cfg, store_url, window, data, as_of_ts)
        recent = steps.recent_volumes(cfg, store_url, window)
        inputs = steps.check_inputs(cfg, data.batch, reference, recent)
        kpis, labelled = steps.score_window(cfg, store_url, window, data.batch, data.labels)
        failures = steps.pick_failures(cfg, data.batch, inputs.validation, labelled)
        findings = input_findings(inputs.volume, inputs.validation, inputs.drift)
        verdict = steps.decide(findings, kpis)
        metric_rows = records.input_metric_rows(inputs.volume, inputs.validation, inputs.drift)
        metric_rows += records.kpi_metric_rows(kpis)
        report = steps.write_evidence(cfg, window, data.batch, verdict, metric_rows, started)
        steps.store_run(
            store_url,
            store.RunRecord(
                model=cfg.name,
                window_start=store.utc(window.start),
                window_end=store.utc(window.end),
                trigger=trigger,
                status=verdict.status,
                started_at=started,
                causes=verdict.causes,
                rows=len(data.batch),
                labelled_rows=kpis.labelled,
                label_coverage=kpis.coverage,
                as_of=store.utc(as_of_ts),
                reference_id=reference.id,
                summary=verdict.summary,
                findings=[f.to_json() for f in verdict.findings],
                report_uri=report,
            ),
            metric_rows,
            failures,
        )
    except Exception as exc:
        summary = _store_failure(cfg, store_url, window, trigger, started, as_of_ts, exc)
        raise MonitorFailed(summary) from exc
    summary = steps.window_summary(cfg, store_url, store.utc(window.start))
    steps.publish_artifact(cfg, summary)
    get_run_logger().info("%s %s: %s %s", cfg.name, window.label, summary["status"], summary["causes"])
    return summary


def _store_failure(
    cfg: Any, store_url: str, window: Any, trigger: str, started: Any, as_of: Any, exc: Exception
) -> dict[str, Any]:
    """Record the failed run as a new version (earlier results stay intact) and return its JSON."""
    error = f"{type(exc).__name__}: {exc}"
    get_run_logger().error("%s %s failed: %s", cfg.name, window.label, error)
    record = store.RunRecord(
        model=cfg.name,
        window_start=store.utc(window.start),
        window_end=store.utc(window.end),
        trigger=trigger,
        status="failed",
        started_at=started,
        as_of=store.utc(as_of),
        error=error,
        summary=f"FAILED: {error}",
    )
    _, version, _ = store.write_run(store.open_store(store_url), record, [])
    run = {**vars(record), "run_version": version, "label_coverage": None, "report_uri": None}
    return records.window_json(run, pd.DataFrame(), 0, [k.metric for k in cfg.kpis], cfg.window.timezone)


def _config_failure(config_path: str, exc: ConfigError) -> dict[str, Any]:
    return {
        "model": None,
        "config": config_path,
        "window_start": None,
        "window_end": None,
        "rows": None,
        "labelled_rows": None,
        "status": "failed",
        "causes": [],
        "drifted_features": [],
        "kpis": {},
        "failures_logged": 0,
        "error": str(exc),
    }
