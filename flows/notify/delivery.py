"""Alerts people receive: after each run, decide what is worth a message, queue it, deliver it.

- Condition states and their messages are written in one transaction (the outbox), then delivered; what
  fails stays in the outbox and is re-sent on the next run or by ``driftwarden alerts flush``.
- When the store itself is down, the messages go to a spool file in DRIFTWARDEN_HOME (and are tried
  directly at once); the next run with a store moves what is left into the outbox.
- Delivery never fails a monitoring run: every problem is logged (by channel name) and recorded.
- Secrets (webhook URLs, SMTP passwords) are read from the environment at delivery time only; the outbox
  keeps the channel's name, and errors are scrubbed of the secret before they are logged or stored.
- Each channel type is one class in flows/notify/channels, found by the ``type`` of its config.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from driftwarden.checks.alerting import (
    Decision,
    Evidence,
    Message,
    Observation,
    WindowEvidence,
    compose,
    decide,
    idempotency_key,
    model_evidence,
    silence_evidence,
    window_evidence,
)
from driftwarden.config.alerts import Channel
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.notify.channels import DeliveryError, notifier_for
from driftwarden.flows.notify.secrets import describe
from driftwarden.flows.pauses import pause_at
from driftwarden.flows.runtime import PURE, step
from driftwarden.flows.store import alerts as alert_store


def _log() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("driftwarden.alerts")


@dataclass
class NotifyReport:
    """What one notify call did (counts only; no message text, no secrets)."""

    decisions: dict[str, int] = field(default_factory=dict)
    """action/reason -> count, e.g. ``alert/new``, ``suppress/cooldown``, ``resolve/cleared``."""
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    spooled: int = 0
    error: str | None = None


# --- the step of the monitoring flow ------------------------------------------------------------------


@step(PURE, name="notify")
def notify_window(
    cfg: ModelConfig, store_url: str, summary: dict[str, Any], trigger: str, send_alerts: bool | None = None
) -> NotifyReport:
    """Alert on a stored window (failed runs included). Never raises: a problem is logged and returned.
    Backfills send no alerts unless ``send_alerts`` is true."""
    if trigger == "backfill" and not send_alerts:
        return NotifyReport()
    if send_alerts is False:
        return NotifyReport()
    try:
        return notify(cfg, store_url, summary)
    except Exception as exc:  # alerting must never fail the monitoring run
        _log().error("%s: alerting failed: %s", cfg.name, describe(exc))
        return NotifyReport(error=describe(exc))


def notify(cfg: ModelConfig, store_url: str, summary: dict[str, Any]) -> NotifyReport:
    """Decide, queue and deliver the alerts of one window's run (the store is read for the earlier
    windows within the label horizon, the conditions, the mutes and the dead-man's facts)."""
    now = _run_time(summary)
    report = NotifyReport()
    try:
        engine = store.open_store(store_url)
        drain_spool(engine)
        if _superseded_in_time(cfg, engine, summary):
            report.decisions["skip/older-window"] = 1
            report.sent, report.failed, report.dead = deliver(cfg, engine)
            return report
        evidence = gather_evidence(cfg, engine, summary, now)
        decisions = decide(
            cfg.name,
            evidence,
            alert_store.load_conditions(engine, cfg.name),
            alert_store.active_mutes(engine, cfg.name, now),
            now,
            cfg.alerts,
        )
        queued = _queue(cfg, compose(cfg.name, decisions, cfg.alerts, summary))
        alert_store.record(engine, decisions, queued)
    except Exception as exc:  # the store is down: spool what can be said without it, and try it directly
        _log().warning("%s: the store is unavailable for alerting (%s); spooling", cfg.name, describe(exc))
        evidence = model_evidence([window_evidence(summary, [])])
        decisions = decide(cfg.name, evidence, {}, [], now, cfg.alerts)
        queued = _queue(cfg, compose(cfg.name, decisions, cfg.alerts, summary))
        spool(queued)
        report.spooled = len(queued)
        report.error = describe(exc)
        report.sent, report.failed = deliver_spool(cfg)
        _count(report, decisions)
        return report
    _count(report, decisions)
    report.queued = len(queued)
    sent, failed, dead = deliver(cfg, engine)
    report.sent, report.failed, report.dead = sent, failed, dead
    _log().info("%s: alerts %s, %d queued, %d sent, %d failed", cfg.name, report.decisions, report.queued, sent, failed)
    return report


def check_silence(cfg: ModelConfig, store_url: str, now: datetime | None = None) -> NotifyReport:
    """The dead-man's switch on its own (from the CLI or a schedule): alert on silence, then deliver. A store
    that cannot be reached is itself said (spooled, and tried directly): silence cannot be ruled out."""
    now = now or store.now_utc()
    try:
        engine = store.open_store(store_url)
        drain_spool(engine)
    except Exception as exc:
        detail = f"the store cannot be reached, so silence cannot be ruled out: {describe(exc)}"
        evidence = Evidence((Observation("silence", "store", "critical", None, detail),), frozenset({"silence/store"}))
        decisions = decide(cfg.name, evidence, {}, [], now, cfg.alerts)
        queued = _queue(cfg, compose(cfg.name, decisions, cfg.alerts, None))
        spool(queued)
        report = NotifyReport(spooled=len(queued), error=describe(exc))
        report.sent, report.failed = deliver_spool(cfg)
        _count(report, decisions)
        return report
    evidence = _silence(cfg, engine, now)
    prior = alert_store.load_conditions(engine, cfg.name)
    decisions = decide(cfg.name, evidence, prior, alert_store.active_mutes(engine, cfg.name, now), now, cfg.alerts)
    queued = _queue(cfg, compose(cfg.name, decisions, cfg.alerts, None))
    alert_store.record(engine, decisions, queued)
    report = NotifyReport(queued=len(queued))
    _count(report, decisions)
    report.sent, report.failed, report.dead = deliver(cfg, engine)
    return report


def _superseded_in_time(cfg: ModelConfig, engine: Any, summary: dict[str, Any]) -> bool:
    """A run of a window older than the newest monitored one (a re-run by hand) neither opens nor clears the
    model's conditions: they stand for its newest window, which this run says nothing about."""
    if not summary.get("window_start"):
        return False
    newer = store.latest_runs(engine, cfg.name, start=store.utc(summary["window_start"]) + pd.Timedelta(seconds=1))
    if newer[newer["status"] != "failed"].empty:
        return False
    _log().info("%s: %s is older than the newest monitored window; no alerts", cfg.name, summary["window_start"])
    return True


def gather_evidence(cfg: ModelConfig, engine: Any, summary: dict[str, Any], now: datetime) -> Evidence:
    """This window (from its summary and its stored metrics) and the earlier windows that ended within the
    label horizon before it (their KPIs mature later: this run may have re-scored them, whatever the window's
    length), plus the dead-man's switch."""
    start = store.utc(summary["window_start"])
    earlier = alert_store.recent_windows(engine, cfg.name, None, start, ended_after=start - cfg.horizon)
    windows: list[WindowEvidence] = [window_evidence(_window(run), rows) for run, rows in earlier]
    this = alert_store.recent_windows(engine, cfg.name, start, start + pd.Timedelta(seconds=1))
    rows = this[0][1] if this and summary["status"] != "failed" else []
    windows.append(window_evidence(summary, rows))
    return model_evidence(windows) + _silence(cfg, engine, now)


def _silence(cfg: ModelConfig, engine: Any, now: datetime) -> Evidence:
    live = alert_store.liveness(engine, cfg.name, now)
    return silence_evidence(cfg.alerts.silence, now, live.last_success, live.last_rows, live.last_labels)


def _window(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "window_start": pd.Timestamp(run["window_start"]).tz_localize("UTC").isoformat(),
        "status": run["status"],
        "error": run["error"],
        "summary": run["summary"],
    }


def _run_time(summary: dict[str, Any]) -> datetime:
    """The moment a run stands for: its as-of time (a backfill replays history), else now."""
    return store.utc(summary["as_of"]) if summary.get("as_of") else store.now_utc()


def _count(report: NotifyReport, decisions: Sequence[Decision]) -> None:
    for d in decisions:
        k = f"{d.action}/{d.reason}"
        report.decisions[k] = report.decisions.get(k, 0) + 1


def _queue(cfg: ModelConfig, messages: Sequence[Message]) -> list[alert_store.Queued]:
    """One message per channel, each with its idempotency key (kept in the outbox and the spool, so every
    retry carries the same key)."""
    return [
        alert_store.Queued(cfg.name, channel, _keyed(channel, m.to_json()))
        for m in messages
        for channel in cfg.alerts.channels_for(m.severity)
    ]


def _keyed(channel: str, payload: dict[str, Any], fallback: str | None = None) -> dict[str, Any]:
    """The payload with its idempotency key (a message queued without one gets ``fallback``, e.g. its outbox
    row, or one made from its content)."""
    if payload.get("idempotency_key"):
        return payload
    return {**payload, "idempotency_key": fallback or idempotency_key(channel, payload)}


# --- delivery -----------------------------------------------------------------------------------------


def deliver(cfg: ModelConfig, engine: Any) -> tuple[int, int, int]:
    """Send the model's pending outbox messages, oldest first. A channel that fails is not tried again in
    this pass (so a hanging receiver costs one bounded timeout per run, not one per message).
    Returns (sent, failed, given up)."""
    sent = failed = dead = 0
    broken: set[str] = set()
    for row in alert_store.pending(engine, cfg.name):
        if row.channel in broken:
            continue
        channel = cfg.alerts.channels.get(row.channel)
        try:
            if channel is None:
                raise DeliveryError(f"channel {row.channel!r} is not in alerts.channels of {cfg.name}", True)
            send(cfg, row.channel, channel, _keyed(row.channel, row.payload, f"dw-{row.model}-outbox-{row.id}"))
        except Exception as exc:
            error = str(exc) if isinstance(exc, DeliveryError) else describe(exc)
            give_up = row.attempts + 1 >= cfg.alerts.max_attempts
            alert_store.mark_failed(engine, row.id, error, give_up)
            _log().warning("%s: alert %d to channel %s failed: %s", cfg.name, row.id, row.channel, error)
            broken.add(row.channel)
            failed += 1
            dead += give_up
            continue
        pause_at("alerting")  # delivered, not yet marked sent: the next run sends it again, with the same key
        alert_store.mark_sent(engine, row.id)
        sent += 1
    return sent, failed, dead


def send(cfg: ModelConfig, name: str, channel: Channel, payload: dict[str, Any]) -> None:
    """One message to one channel, with the channel's bounded attempts. Raises DeliveryError."""
    notifier_for(name, channel, cfg).send(payload)


# --- the spool (when the store is down) ---------------------------------------------------------------


def spool_path() -> Path:
    return get_settings().home.resolve() / "alerts-spool.jsonl"


def spool(queued: Sequence[alert_store.Queued]) -> None:
    if not queued:
        return
    path = spool_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for q in queued:
            fh.write(json.dumps({"model": q.model, "channel": q.channel, "payload": q.payload}, default=str) + "\n")


def _read_spool(path: Path) -> list[alert_store.Queued]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(alert_store.Queued(d["model"], d["channel"], d["payload"]))
    return out


def deliver_spool(cfg: ModelConfig) -> tuple[int, int]:
    """Try the model's spooled messages directly (no store); keep what fails. Returns (sent, failed)."""
    path = spool_path()
    if not path.exists():
        return 0, 0
    keep, sent, failed, broken = [], 0, 0, set()
    for q in _read_spool(path):
        channel = cfg.alerts.channels.get(q.channel)
        if q.model != cfg.name or channel is None or q.channel in broken:
            keep.append(q)
            continue
        try:
            send(cfg, q.channel, channel, _keyed(q.channel, q.payload))
            sent += 1
        except Exception as exc:
            _log().warning("%s: spooled alert to channel %s failed: %s", cfg.name, q.channel, describe(exc))
            broken.add(q.channel)
            keep.append(q)
            failed += 1
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text("".join(json.dumps(q.__dict__, default=str) + "\n" for q in keep), encoding="utf-8")
    os.replace(tmp, path)
    if not keep:
        path.unlink()
    return sent, failed


def drain_spool(engine: Any) -> int:
    """Move spooled messages into the outbox (the store is back); the spool file is removed."""
    path = spool_path()
    if not path.exists():
        return 0
    taken = path.with_suffix(f".{os.getpid()}.draining")
    os.replace(path, taken)  # appends from here on go to a new spool file
    queued = _read_spool(taken)
    try:
        alert_store.enqueue(engine, queued)
    except Exception:
        with path.open("a", encoding="utf-8") as fh:  # the store failed again: keep them spooled
            fh.write(taken.read_text(encoding="utf-8"))
        taken.unlink()
        raise
    taken.unlink()
    return len(queued)


# --- reports (not alerts) -------------------------------------------------------------------------------


def send_report(cfg: ModelConfig, store_url: str, title: str, text: str, details: dict[str, Any]) -> NotifyReport:
    """A report (kind ``report``, e.g. the weekly review) to every channel of the model, through the outbox: no
    condition, so no cooldown, mute or resolution; a channel that fails keeps it pending like an alert."""
    payload: dict[str, Any] = {
        "kind": "report", "severity": "info", "model": cfg.name, "title": title, "text": text,
        "window_start": None, "window_end": None, "status": None, "report": None, "runbook_url": None,
        "conditions": [], "incidents": [], "details": details,
    }  # fmt: skip
    queued = [alert_store.Queued(cfg.name, c, _keyed(c, payload)) for c in sorted(cfg.alerts.channels)]
    report = NotifyReport(queued=len(queued))
    engine = store.open_store(store_url)
    try:
        alert_store.enqueue(engine, queued)
        report.sent, report.failed, report.dead = deliver(cfg, engine)
    finally:
        engine.dispose()
    return report
