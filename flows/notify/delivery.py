"""Alerts people receive: after each run, decide what is worth a message, queue it, deliver it.

- Condition states and their messages are written in one transaction (the outbox), then delivered; what
  fails stays in the outbox and is re-sent on the next run or by ``driftwarden alerts flush``.
- When the store itself is down, the messages go to a spool file in DRIFTWARDEN_HOME (and are tried
  directly at once); the next run with a store moves what is left into the outbox.
- Delivery never fails a monitoring run: every problem is logged (by channel name) and recorded.
- Secrets (webhook URLs, SMTP passwords) are read from the environment at delivery time only; the outbox
  keeps the channel's name, and errors are scrubbed of the secret before they are logged or stored.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from driftwarden.checks.alerting import (
    Decision,
    Evidence,
    Message,
    Observation,
    WindowEvidence,
    compose,
    decide,
    model_evidence,
    silence_evidence,
    slack_payload,
    window_evidence,
)
from driftwarden.config.alerts import SECRET_BLOCK, Channel, EmailChannel, FileChannel, SlackChannel, WebhookChannel
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import env_secret, get_settings
from driftwarden.flows import store
from driftwarden.flows.store import alerts as alert_store

USER_AGENT = "driftwarden-alerts/1"


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


@task(name="notify", retries=0, cache_policy=NO_CACHE)
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
        _log().error("%s: alerting failed: %s", cfg.name, _describe(exc))
        return NotifyReport(error=_describe(exc))


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
        _log().warning("%s: the store is unavailable for alerting (%s); spooling", cfg.name, _describe(exc))
        evidence = model_evidence([window_evidence(summary, [])])
        decisions = decide(cfg.name, evidence, {}, [], now, cfg.alerts)
        queued = _queue(cfg, compose(cfg.name, decisions, cfg.alerts, summary))
        spool(queued)
        report.spooled = len(queued)
        report.error = _describe(exc)
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
        detail = f"the store cannot be reached, so silence cannot be ruled out: {_describe(exc)}"
        evidence = Evidence((Observation("silence", "store", "critical", None, detail),), frozenset({"silence/store"}))
        decisions = decide(cfg.name, evidence, {}, [], now, cfg.alerts)
        queued = _queue(cfg, compose(cfg.name, decisions, cfg.alerts, None))
        spool(queued)
        report = NotifyReport(spooled=len(queued), error=_describe(exc))
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
    """This window (from its summary and its stored metrics) and the earlier windows within the label
    horizon (their KPIs mature later), plus the dead-man's switch."""
    start = store.utc(summary["window_start"])
    earlier = alert_store.recent_windows(engine, cfg.name, start - cfg.horizon, start)
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
    return [
        alert_store.Queued(cfg.name, channel, m.to_json())
        for m in messages
        for channel in cfg.alerts.channels_for(m.severity)
    ]


# --- delivery -----------------------------------------------------------------------------------------


class DeliveryError(Exception):
    """A delivery attempt failed; ``permanent`` ones are not retried within the run."""

    def __init__(self, text: str, permanent: bool = False):
        super().__init__(text)
        self.permanent = permanent


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
            send(cfg, row.channel, channel, row.payload)
        except Exception as exc:
            error = str(exc) if isinstance(exc, DeliveryError) else _describe(exc)
            give_up = row.attempts + 1 >= cfg.alerts.max_attempts
            alert_store.mark_failed(engine, row.id, error, give_up)
            _log().warning("%s: alert %d to channel %s failed: %s", cfg.name, row.id, row.channel, error)
            broken.add(row.channel)
            failed += 1
            dead += give_up
            continue
        alert_store.mark_sent(engine, row.id)
        sent += 1
    return sent, failed, dead


def send(cfg: ModelConfig, name: str, channel: Channel, payload: dict[str, Any]) -> None:
    """One message to one channel, with the channel's bounded attempts. Raises DeliveryError."""
    if isinstance(channel, FileChannel):
        path = Path(cfg.resolve(channel.path))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({**payload, "channel": name}, default=str) + "\n")
        return
    where = f"alerts.channels.{name}"
    secret: str | None = None
    if isinstance(channel, EmailChannel):
        if channel.password:
            secret = resolve_secret(channel.password, f"{where}.password")
    else:
        secret = resolve_secret(channel.url, f"{where}.url")
    for attempt in range(channel.attempts):
        try:
            if isinstance(channel, EmailChannel):
                _send_email(channel, secret, payload)
            else:
                _post(channel, secret or "", payload)
            return
        except DeliveryError as exc:
            error = DeliveryError(_scrub(str(exc), secret), exc.permanent)
        except Exception as exc:
            error = DeliveryError(_scrub(f"{type(exc).__name__}: {exc}", secret))
        if error.permanent or attempt + 1 == channel.attempts:
            raise error
        time.sleep(1.0)


def resolve_secret(reference: str, where: str) -> str:
    """The value behind ``${VAR}`` (the environment) or ``{{ prefect.blocks.secret.name }}`` (a Prefect
    Secret block). A secret: never log, store or render it."""
    block = re.fullmatch(SECRET_BLOCK, reference.strip())
    if block is None:
        return env_secret(reference, where)
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(block.group(1)).get()
    except ValueError as exc:
        raise KeyError(f"{where}: Prefect Secret block {block.group(1)!r} cannot be loaded: {exc}") from None
    return str(value)


def _post(channel: WebhookChannel | SlackChannel, url: str, payload: dict[str, Any]) -> None:
    body = slack_payload(payload) if isinstance(channel, SlackChannel) else payload
    req = urllib.request.Request(
        url,
        data=json.dumps(body, default=str).encode(),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        method="POST",
    )
    try:
        # the timeout bounds the connect and every read of the socket
        with urllib.request.urlopen(req, timeout=channel.timeout_seconds) as resp:
            resp.read(65536)
    except (http.client.InvalidURL, ValueError):  # their messages quote the URL, which holds the secret
        raise DeliveryError("the channel's URL is not a valid URL", permanent=True) from None
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code != 429  # a bad request is not retried within the run
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}", permanent) from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"cannot reach the endpoint: {exc.reason}") from None


def _send_email(channel: EmailChannel, password: str | None, payload: dict[str, Any]) -> None:
    msg = EmailMessage()
    msg["Subject"] = payload["title"]
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg.set_content(payload["text"])
    encrypted = channel.ssl or channel.starttls
    if channel.username and password and not encrypted and not _loopback(channel.host):
        raise DeliveryError(
            f"refusing to send the SMTP password unencrypted to {channel.host}: set starttls or ssl", permanent=True
        )
    context = ssl.create_default_context()  # the server's certificate and host name are verified
    if channel.ssl:
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            channel.host, channel.port, timeout=channel.timeout_seconds, context=context
        )
    else:
        server = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds)
    with server as smtp:
        if channel.starttls:
            smtp.starttls(context=context)
        if channel.username and password:
            smtp.login(channel.username, password)
        smtp.send_message(msg)


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scrub(text: str, secret: str | None) -> str:
    """The text without the secret, nor any part of it long enough to matter (an error may quote a URL's
    path and query, where a webhook's token lives, or its user and password)."""
    if not secret:
        return text
    parts = {secret, secret.strip()}
    try:
        url = urllib.parse.urlsplit(secret.strip())
        parts |= {url.netloc, url.path, url.query, f"{url.path}?{url.query}", url.username or "", url.password or ""}
        parts |= {urllib.parse.unquote(p) for p in list(parts)}
    except ValueError:
        pass
    for part in sorted((p for p in parts if len(p) >= 6), key=len, reverse=True):
        text = text.replace(part, "***")
    return text


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


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
            send(cfg, q.channel, channel, q.payload)
            sent += 1
        except Exception as exc:
            _log().warning("%s: spooled alert to channel %s failed: %s", cfg.name, q.channel, _describe(exc))
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
