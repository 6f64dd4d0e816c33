"""The dead-man's switch on a schedule: a run that never happens cannot report its own absence, so the
``check-silence`` deployment (hourly) asks whether each model has had a successful run, rows and new labels
recently enough, and alerts when not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from driftwarden.config.settings import get_settings
from driftwarden.flows import runtime
from driftwarden.flows.notify import delivery as alerts


def _run_name() -> str:
    from prefect.runtime import flow_run

    return f"{Path(flow_run.parameters['config_path']).stem}-silence"


@flow(name="check-silence", flow_run_name=_run_name, timeout_seconds=600)
def check_silence(config_path: str) -> dict[str, Any]:
    """Alert on silence (no successful run, no rows, no new labels for longer than ``alerts.silence`` says)."""
    cfg = runtime.load_config(config_path)
    s = cfg.alerts.silence
    if s.no_run is None and s.no_rows is None and s.no_labels is None:
        get_run_logger().info("%s: alerts.silence sets no threshold; nothing to watch", cfg.name)
        return {"model": cfg.name, "watched": False}
    report = alerts.check_silence(cfg, get_settings().resolved_store_url())
    get_run_logger().info("%s silence: %s; %d sent, %d failed", cfg.name, report.decisions, report.sent, report.failed)
    return {"model": cfg.name, "watched": True, "decisions": report.decisions, "sent": report.sent}
