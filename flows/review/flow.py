"""``review-model``: the review of a model's last complete week (or quarter) as a report, written beside its
pages (``<reports>/<model>/reviews/<period>.md``), sent through the model's alert channels (kind ``report``,
not an alert) and, inside a flow run, published as a Prefect markdown artifact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from driftwarden.checks.objectives import parse_period
from driftwarden.config.settings import get_settings
from driftwarden.flows import runtime
from driftwarden.flows.files import write_text
from driftwarden.flows.notify.delivery import send_report
from driftwarden.flows.reports import review as reviews


def review_path(model: str, period: str) -> str:
    return f"{get_settings().resolved_reports_dir().rstrip('/')}/{model}/reviews/{period}.md"


@flow(name="review-model", log_prints=False)
def review_model(config_path: str, period: str | None = None, send: bool = True) -> dict[str, Any]:
    """Review ``period`` (``2026-W43``, ``2026-Q4``; default: the last complete one of ``review.period``)."""
    cfg = runtime.load_config(config_path)
    tz = cfg.window.timezone
    # a scheduled run reviews the period before its scheduled start, also when a worker picks it up late
    p = parse_period(period, tz) if period else reviews.last_complete(cfg, cfg.review.period, _scheduled())
    found = reviews.gather(cfg, get_settings().resolved_store_url(), p)
    text = reviews.to_markdown(found, cfg)
    path = review_path(cfg.name, p.label)
    write_text(path, text)
    _publish(cfg.name, p.label, text)
    sent = None
    if send:
        state = "provisional" if found.is_provisional else "final"
        sent = send_report(cfg, get_settings().resolved_store_url(), f"{cfg.name}: review of {p.label} ({state})",
                           text, {"period": p.label, "path": path, "provisional": found.is_provisional})  # fmt: skip
    return {"period": p.label, "path": path, "provisional": found.is_provisional,
            "sent": None if sent is None else sent.sent, "failed": None if sent is None else sent.failed}  # fmt: skip


def _scheduled() -> datetime:
    try:
        return runtime.scheduled_time().to_pydatetime()
    except Exception:  # outside a flow run (no scheduled start): now
        return datetime.now(UTC)


def _publish(model: str, period: str, text: str) -> None:
    from prefect.artifacts import create_markdown_artifact
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return
    key = f"{model}-review-{period}".lower().replace("_", "-")
    create_markdown_artifact(markdown=text, key=key, description=f"{model}: review of {period}")
