"""Alerting logic (pure): what conditions a model is in, whether each one is worth a message, and the text.

A condition is keyed by (model, check, subject), e.g. ``credit_risk/kpi/accuracy`` or
``credit_risk/feature_drift/age``. It alerts once when it opens, again only after the cooldown or when its
badness (how far beyond its rule it is; higher is worse) grew by the worsen step or its severity rose, and
sends a 'resolved' message when it clears. A check that was not evaluated (too few rows for drift, labels
still pending) neither opens nor clears anything.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from driftwarden.checks.shares import rule_of
from driftwarden.config.alerts import SEVERITIES, AlertsConfig, Severity, SilenceConfig
from driftwarden.config.common import parse_duration

Check = Literal["run_failed", "volume", "data_quality", "input_drift", "feature_drift", "kpi", "silence"]
Action = Literal["alert", "suppress", "resolve"]
_INPUT_CHECKS: tuple[Check, ...] = ("volume", "data_quality", "input_drift", "feature_drift")
_LABEL = {
    "run_failed": "run failed",
    "volume": "volume",
    "data_quality": "failed expectation",
    "input_drift": "input drift",
    "feature_drift": "feature drift",
    "kpi": "KPI",
    "silence": "silence",
}


@dataclass(frozen=True)
class Observation:
    """A condition found active in the latest evidence."""

    check: Check
    subject: str
    severity: Severity
    value: float | None
    """Badness: how far beyond its rule (higher is worse); None when it has no size (a failed run)."""
    detail: str
    """The finding in plain words, e.g. ``accuracy 0.702 [0.684, 0.720] below target 0.8``."""
    window_start: str | None = None
    """The window it was found in (a KPI is decided on an earlier window than the inputs)."""
    cause: str | None = None
    """That window's likely cause in plain words (its verdict's first line)."""
    share_state: str | None = None
    """A share rule's state (``checks.shares``): a standing issue is alerted when it opens and never reminded
    of (it is in every window's findings until it is gone or accepted); a rise is alerted as worse."""


@dataclass(frozen=True)
class Evidence:
    """The active observations of a model and the checks that were evaluated (only those can clear)."""

    observations: tuple[Observation, ...] = ()
    evaluated: frozenset[str] = frozenset()
    """``check`` (every subject of it) or ``check/subject``."""
    accepted: frozenset[str] = frozenset()
    """``check/subject`` of the standing issues a user accepted (``driftwarden accept``): they close as
    accepted, not as cleared."""

    def covers(self, check: str, subject: str) -> bool:
        return check in self.evaluated or f"{check}/{subject}" in self.evaluated

    def __add__(self, other: Evidence) -> Evidence:
        return Evidence(
            self.observations + other.observations, self.evaluated | other.evaluated, self.accepted | other.accepted
        )


@dataclass(frozen=True)
class WindowEvidence:
    """What one window's current run says: its inputs (None when the run failed) and its KPIs."""

    window_start: str | None
    failed: Observation | None
    inputs: Evidence | None
    kpis: Mapping[str, Observation | None]
    """Evaluated KPIs only: metric -> its observation, or None when it is within its target."""


@dataclass(frozen=True)
class ConditionState:
    """The stored state of one condition key."""

    model: str
    check: str
    subject: str
    state: Literal["open", "resolved"]
    severity: Severity
    first_seen: datetime
    last_seen: datetime
    last_sent: datetime | None
    sent_value: float | None
    """Badness at the last alert sent (worsening is measured from it)."""
    last_value: float | None
    detail: str
    acknowledged: bool = False

    @property
    def key(self) -> str:
        return condition_key(self.model, self.check, self.subject)


@dataclass(frozen=True)
class Mute:
    check: str
    """A check name or ``*``."""
    subject: str
    """A subject or a glob pattern (``*`` = every subject)."""
    until: datetime
    reason: str

    def covers(self, check: str, subject: str, now: datetime) -> bool:
        return (
            now < self.until
            and (self.check in ("*", check))
            and fnmatch.fnmatchcase(subject, self.subject)  # exact or glob
        )


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    """new, worse, reminder | cooldown, muted, acknowledged, standing | cleared, accepted."""
    notify: bool
    """Whether a message goes out for it."""
    state: ConditionState
    """The condition's state after this decision (to be stored)."""
    observation: Observation | None


@dataclass(frozen=True)
class Message:
    kind: Literal["alert", "resolved"]
    severity: Severity
    model: str
    title: str
    text: str
    conditions: tuple[dict[str, Any], ...]
    """Per condition: key, check, subject, severity, value, detail, reason."""
    window_start: str | None = None
    window_end: str | None = None
    status: str | None = None
    report: str | None = None
    runbook_url: str | None = None
    incidents: tuple[dict[str, Any], ...] = ()
    """The incidents its conditions belong to: id, cause, state, title, postmortem (the page's path), command."""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "model": self.model,
            "title": self.title,
            "text": self.text,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "status": self.status,
            "report": self.report,
            "runbook_url": self.runbook_url,
            "conditions": list(self.conditions),
            "incidents": list(self.incidents),
        }


def condition_key(model: str, check: str, subject: str) -> str:
    return f"{model}/{check}/{subject}"


# --- evidence -----------------------------------------------------------------------------------------


def _f(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def _g(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def window_evidence(window: Mapping[str, Any], metric_rows: Iterable[Mapping[str, Any]]) -> WindowEvidence:
    """The evidence of one window from its JSON (checks/records.window_json) and its stored metric rows
    (dicts with kind, name, column, segment, value, lower, upper, threshold, direction, passed, details)."""
    start = window.get("window_start")
    if window.get("status") == "failed":
        error = str(window.get("error") or window.get("summary") or "unknown error")
        cause = "the monitoring run itself failed, so nothing about the model is known for this window."
        failed = Observation("run_failed", "run", "critical", None, f"the run failed: {error}", start, cause)
        return WindowEvidence(start, failed, None, {})
    seen = _cause_line(str(window.get("summary") or ""))
    rows = list(metric_rows)
    obs: list[Observation] = []
    evaluated: set[str] = {"run_failed"}
    accepted: set[str] = set()
    for r in rows:
        kind, details = r.get("kind"), r.get("details") or {}
        if kind == "volume":
            evaluated.add("volume")
            if r.get("passed") is False:
                rows_, floor = _f(r.get("value")) or 0.0, _f(r.get("threshold")) or 0.0
                bad = 1.0 - rows_ / floor if floor > 0 else 1.0
                note = details.get("note") or f"{rows_:.0f} rows, below {floor:.0f}"
                obs.append(Observation("volume", "rows", "critical", bad, note))
        elif kind == "validation":
            evaluated.add("data_quality")
            subject = rule_of(r.get("column"), str(r.get("name")))
            state = (details.get("share") or {}).get("state")
            if r.get("passed") is False:
                detail = details.get("detail") or subject
                ob = Observation("data_quality", subject, "critical", _f(r.get("value")), detail, share_state=state)
                obs.append(ob)
            elif state == "accepted":
                accepted.add(f"data_quality/{subject}")
    drift = [r for r in rows if r.get("kind") == "drift"]
    dataset = next((r for r in drift if (r.get("details") or {}).get("role") == "dataset"), None)
    if dataset is not None and dataset.get("passed") is not None:
        evaluated |= {"input_drift", "feature_drift"}
        drifted = dataset.get("passed") is False
        share, rule = _f(dataset.get("value")) or 0.0, _f(dataset.get("threshold")) or 0.0
        if drifted:
            detail = f"{share:.0%} of the features drifted (rule: {rule:.0%})"
            obs.append(Observation("input_drift", "dataset", "critical", share, detail))
        for r in drift:
            if (r.get("details") or {}).get("role") == "feature" and r.get("passed") is False:
                score, threshold = _f(r.get("value")), _f(r.get("threshold"))
                detail = f"{r.get('column')}: {r.get('name')} {_g(score, '.3f')} (threshold {_g(threshold, 'g')})"
                sev: Severity = "critical" if drifted else "warning"
                # A distance grows with the drift; a p-value shrinks with the rows as much as with the drift,
                # so it is no size to call 'worse' by (such conditions are reminded after the cooldown only).
                size = None if r.get("name") in ("ks", "chisquare") else score
                obs.append(Observation("feature_drift", str(r.get("column")), sev, size, detail))
    kpis: dict[str, Observation | None] = {}
    for r in rows:
        details = r.get("details") or {}
        if r.get("kind") != "kpi" or r.get("segment", "all") != "all":
            continue
        level = details.get("level")
        if level not in ("ok", "warning", "breach") or details.get("incomplete"):
            continue  # not evaluated, or of labels overdue (incomplete): no evidence either way
        name = str(r.get("name"))
        kpis[name] = None if level == "ok" else _kpi_observation(r, level, start, seen)
    found = tuple(replace(o, window_start=start, cause=seen) for o in obs)
    return WindowEvidence(start, None, Evidence(found, frozenset(evaluated), frozenset(accepted)), kpis)


def _cause_line(summary: str) -> str | None:
    """The plain-words cause from a verdict summary's first line (``BREACH: the model's inputs ...``)."""
    first = summary.splitlines()[0] if summary else ""
    head, _, rest = first.partition(":")
    return rest.strip() if head in ("BREACH", "WARNING") and rest.strip() else None


def _kpi_observation(r: Mapping[str, Any], level: str, window_start: str | None, cause: str | None) -> Observation:
    value, target = _f(r.get("value")), _f(r.get("threshold"))
    lower, upper = _f(r.get("lower")), _f(r.get("upper"))
    higher = r.get("direction", "higher_is_better") == "higher_is_better"
    bad = None if value is None or target is None else (target - value if higher else value - target)
    ci = f" [{lower:.3f}, {upper:.3f}]" if lower is not None and upper is not None else ""
    side = "below" if higher else "above"
    shown = _g(value, ".3f")
    when = f" (window {window_start[:10]})" if window_start else ""
    labelled = (r.get("details") or {}).get("labelled")
    count = f", {labelled} labelled" if labelled is not None else ""
    detail = f"{r.get('name')} {shown}{ci} {side} target {_g(target, 'g')}{count}{when}"
    severity: Severity = "critical" if level == "breach" else "warning"
    return Observation("kpi", str(r.get("name")), severity, bad, detail, window_start, cause)


def model_evidence(windows: Sequence[WindowEvidence]) -> Evidence:
    """The model's evidence from its recent windows, oldest first: the inputs (and whether the run failed)
    from the latest window; each KPI from the latest window where it was evaluated (labels arrive late, so
    a KPI is decided on an earlier window than the inputs)."""
    if not windows:
        return Evidence()
    latest = windows[-1]
    out = Evidence()
    if latest.failed is not None:
        out = Evidence((latest.failed,), frozenset({"run_failed"}))
    elif latest.inputs is not None:
        out = latest.inputs
    seen: set[str] = set()
    for w in reversed(windows):
        for metric, ob in w.kpis.items():
            if metric in seen:
                continue
            seen.add(metric)
            out = out + Evidence((ob,) if ob is not None else (), frozenset({f"kpi/{metric}"}))
    return out


def silence_evidence(
    cfg: SilenceConfig,
    now: datetime,
    last_success: datetime | None,
    last_rows: datetime | None,
    last_labels: datetime | None,
) -> Evidence:
    """The dead-man's switch: no successful run, no rows, or no labels for longer than configured.
    The ``last_*`` times are when that last happened (None: never)."""
    obs: list[Observation] = []
    evaluated: set[str] = set()
    what = {
        "no_run": (cfg.no_run, last_success, "no successful run"),
        "no_rows": (cfg.no_rows, last_rows, "no window with rows"),
        "no_labels": (cfg.no_labels, last_labels, "no window with labels"),
    }
    for subject, (limit, last, words) in what.items():
        if limit is None:
            continue
        evaluated.add(f"silence/{subject}")
        allowed = parse_duration(limit)
        quiet = None if last is None else now - last
        if quiet is None or quiet > allowed:
            since = "ever" if last is None else f"since {last:%Y-%m-%d %H:%M} UTC ({_span(quiet)})"
            # No value: silence grows by the hour, and a value that grows would count as 'worse' every
            # hour (an alert an hour); it is repeated after the cooldown like any open condition.
            obs.append(Observation("silence", subject, "critical", None, f"{words} {since}; allowed: {limit}"))
    return Evidence(tuple(obs), frozenset(evaluated))


def _span(td: timedelta | None) -> str:
    if td is None:
        return "never"
    hours = td.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


# --- decisions ----------------------------------------------------------------------------------------


def decide(
    model: str,
    evidence: Evidence,
    prior: Mapping[str, ConditionState],
    mutes: Sequence[Mute],
    now: datetime,
    cfg: AlertsConfig,
) -> list[Decision]:
    """One decision per condition key that is active now or open before (and evaluated now)."""
    cooldown = parse_duration(cfg.cooldown)
    out: list[Decision] = []
    active: dict[str, Observation] = {}
    for ob in evidence.observations:
        active.setdefault(condition_key(model, ob.check, ob.subject), ob)
    for key, ob in active.items():
        muted = any(m.covers(ob.check, ob.subject, now) for m in mutes)
        out.append(_decide_active(model, ob, prior.get(key), muted, now, cooldown, cfg.worsen_step))
    for key, st in prior.items():
        if key in active or st.state != "open" or st.model != model or not evidence.covers(st.check, st.subject):
            continue
        muted = any(m.covers(st.check, st.subject, now) for m in mutes)
        resolved = replace(st, state="resolved", last_seen=now, acknowledged=False)
        notify = cfg.resolved and st.last_sent is not None and not muted
        why = "accepted" if f"{st.check}/{st.subject}" in evidence.accepted else "cleared"
        out.append(Decision("resolve", why, notify, resolved, None))
    return out


def _decide_active(
    model: str,
    ob: Observation,
    prior: ConditionState | None,
    muted: bool,
    now: datetime,
    cooldown: timedelta,
    step: float,
) -> Decision:
    if prior is None or prior.state != "open":
        reason, send = "new", True
        base = ConditionState(model, ob.check, ob.subject, "open", ob.severity, now, now, None, None, None, "")
    else:
        base = prior
        rose = SEVERITIES.index(ob.severity) > SEVERITIES.index(prior.severity)
        grew = ob.value is not None and prior.sent_value is not None and ob.value >= prior.sent_value + step - 1e-9
        if prior.last_sent is None:  # opened while muted, or never delivered a decision to send
            reason, send = "new", True
        elif rose or grew or ob.share_state == "rise":
            reason, send = "worse", True
        elif ob.share_state == "standing":
            reason, send = "standing", False
        elif prior.acknowledged:
            reason, send = "acknowledged", False
        elif now - prior.last_sent >= cooldown:
            reason, send = "reminder", True
        else:
            reason, send = "cooldown", False
    if send and muted:
        reason, send = "muted", False
    state = replace(
        base,
        state="open",
        severity=ob.severity,
        last_seen=now,
        last_value=ob.value,
        detail=ob.detail,
        last_sent=now if send else base.last_sent,
        sent_value=ob.value if send else base.sent_value,
        acknowledged=base.acknowledged and not (send and reason == "worse"),
    )
    return Decision("alert" if send else "suppress", reason, send, state, ob)


# --- messages -----------------------------------------------------------------------------------------


def compose(
    model: str,
    decisions: Sequence[Decision],
    cfg: AlertsConfig,
    window: Mapping[str, Any] | None = None,
) -> list[Message]:
    """The messages of one run: one alert per severity that has something to send, one 'resolved'
    message per severity whose alerted conditions cleared. Other open conditions are listed as context."""
    out: list[Message] = []
    still_open = [d for d in decisions if d.action == "suppress"]
    for severity in reversed(SEVERITIES):
        sends = [d for d in decisions if d.action == "alert" and d.state.severity == severity]
        if sends:
            out.append(_alert(model, severity, sends, still_open, cfg, window))
        cleared = [d for d in decisions if d.action == "resolve" and d.notify and d.state.severity == severity]
        if cleared:
            out.append(_resolved(model, severity, cleared, cfg, window))
    return out


def _cond(d: Decision) -> dict[str, Any]:
    s = d.state
    return {
        "key": s.key,
        "check": s.check,
        "subject": s.subject,
        "severity": s.severity,
        "value": s.last_value,
        "detail": s.detail,
        "reason": d.reason,
    }


def _where(window: Mapping[str, Any] | None) -> str:
    if not window or not window.get("window_start"):
        return ""
    return f"window {window['window_start']} .. {window.get('window_end')}"


def _likely_cause(decisions: Sequence[Decision]) -> str:
    causes = [d.observation.cause for d in decisions if d.observation is not None and d.observation.cause]
    if causes:
        return " Also: ".join(dict.fromkeys(c[0].upper() + c[1:] for c in causes))
    if {d.state.check for d in decisions} == {"silence"}:
        return "The model has gone quiet: a stopped schedule, a dead feed or labels that stopped arriving."
    return "See the report."


def _found_in(decisions: Sequence[Decision]) -> str:
    days = sorted({d.observation.window_start[:10] for d in decisions if d.observation and d.observation.window_start})
    return f" in window {', '.join(days)}" if days else ""


def _run_line(window: Mapping[str, Any] | None) -> list[str]:
    if not window or not window.get("window_start"):
        return []
    return [f"This run: {_where(window)}, status {str(window.get('status') or '').upper()}"]


_INCIDENT_CHECKS: dict[str, tuple[str, ...]] = {
    "volume": ("volume",),
    "data_quality": ("data_quality",),
    "input_drift": ("input_drift", "feature_drift"),
    "concept_change": ("kpi",),
    "undetermined": ("kpi",),
}
"""The alert checks of each incident cause (``checks.incidents``)."""


def _incidents(window: Mapping[str, Any] | None, decisions: Sequence[Decision]) -> tuple[dict[str, Any], ...]:
    """The incidents (from the window's ``incidents``, the run's refresh) that the decisions' conditions
    belong to: their cause's check is among the conditions'."""
    checks = {d.state.check for d in decisions}
    found = (window or {}).get("incidents") or ()
    return tuple(
        dict(i) for i in found if isinstance(i, Mapping) and checks & set(_INCIDENT_CHECKS.get(str(i.get("cause")), ()))
    )


def _incident_lines(incidents: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for i in incidents:
        lines.append(f"Incident {i.get('id')} ({i.get('state')}): {i.get('title')}")
        if i.get("postmortem"):
            lines.append(f"  Post-mortem: {i['postmortem']}")
        if i.get("command"):
            lines.append(f"  `{i['command']}`")
    return lines


def _footer(window: Mapping[str, Any] | None, cfg: AlertsConfig) -> list[str]:
    lines = []
    if window and window.get("failures_logged") is not None and window.get("status") != "failed":
        lines.append(f"Failure samples logged for this window: {window['failures_logged']}")
    if window and window.get("report"):
        lines.append(f"Report: {window['report']}")
    if cfg.runbook_url:
        lines.append(f"Runbook: {cfg.runbook_url}")
    return lines


def _alert(
    model: str,
    severity: Severity,
    sends: Sequence[Decision],
    still_open: Sequence[Decision],
    cfg: AlertsConfig,
    window: Mapping[str, Any] | None,
) -> Message:
    title = f"[driftwarden] {severity.upper()} {model}: {_checks(sends)}{_found_in(sends)}"
    lines = [title, "", f"Model: {model}", *_run_line(window), f"Likely cause: {_likely_cause(sends)}", ""]
    lines.append("What breached:" if severity == "critical" else "What is beyond its rule (below the breach rules):")
    for d in sends:
        again = {"worse": " (worse since the last alert)", "reminder": " (still open)"}.get(d.reason, "")
        lines.append(f"- {_LABEL[d.state.check]}: {d.state.detail}{again}")
    if still_open:
        lines += ["", "Still open (alerted before, or muted):"]
        lines += [f"- {_LABEL[d.state.check]}: {d.state.detail} [{d.reason}]" for d in still_open]
    lines += ["", *_footer(window, cfg)]
    incidents = _incidents(window, sends)
    if incidents:
        lines += ["", *_incident_lines(incidents)]
    lines += ["", "Condition keys (acknowledge with `driftwarden ack --config <yaml> --key <key>`):"]
    lines += [f"  {d.state.key}" for d in sends]
    if any(d.observation is not None and d.observation.share_state for d in sends):
        lines += [
            "A share issue that is known and acceptable can be accepted (a note until it expires): "
            "`driftwarden accept --config <yaml> --rule <column>:<expectation> --reason ... --for 30d`."
        ]
    return _message("alert", severity, model, title, lines, sends, window, cfg)


def _resolved(
    model: str, severity: Severity, cleared: Sequence[Decision], cfg: AlertsConfig, window: Mapping[str, Any] | None
) -> Message:
    title = f"[driftwarden] RESOLVED {model}: {_checks(cleared)}"
    lines = [title, "", f"Model: {model}", *_run_line(window), ""]
    gone = [d for d in cleared if d.reason != "accepted"]
    accepted = [d for d in cleared if d.reason == "accepted"]
    if gone:
        lines += ["These conditions cleared:", *[f"- {_LABEL[d.state.check]}: {d.state.detail}" for d in gone]]
    if accepted:
        lines += [
            "These standing issues were accepted (`driftwarden accept`; still in the data, no longer alerted):",
            *[f"- {_LABEL[d.state.check]}: {d.state.detail}" for d in accepted],
        ]
    lines += ["", *_footer(window, cfg)]
    incidents = _incidents(window, cleared)
    if incidents:
        lines += ["", *_incident_lines(incidents)]
    return _message("resolved", severity, model, title, lines, cleared, window, cfg)


def _checks(decisions: Sequence[Decision]) -> str:
    return ", ".join(dict.fromkeys(_LABEL[d.state.check] for d in decisions))


def _message(
    kind: Literal["alert", "resolved"],
    severity: Severity,
    model: str,
    title: str,
    lines: list[str],
    decisions: Sequence[Decision],
    window: Mapping[str, Any] | None,
    cfg: AlertsConfig,
) -> Message:
    w = window or {}
    text = "\n".join(lines).strip() + "\n"
    return Message(
        kind,
        severity,
        model,
        title,
        text,
        tuple(_cond(d) for d in decisions),
        w.get("window_start"),
        w.get("window_end"),
        w.get("status"),
        w.get("report"),
        cfg.runbook_url,
        _incidents(window, decisions),
    )


def slack_payload(message: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body for a stored message (its idempotency key beside the text)."""
    text = str(message["text"])
    shown = text if len(text) <= 2900 else text[:2900] + "\n… (cut; the full text is in the webhook/email channels)"
    body = {"text": message["title"], "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": shown}}]}
    if message.get("idempotency_key"):
        body["idempotency_key"] = message["idempotency_key"]
    return body


def idempotency_key(channel: str, message: Mapping[str, Any]) -> str:
    """A stable key of one message to one channel, sent with it so that a receiver can drop a copy: the same
    alert decided again (a run re-done after a crash) gets the same key, a different alert another one. It
    is made of the model, channel, kind, severity, window and the conditions with their reasons; a message
    without a window (silence, a report) adds its title and text, which say when."""
    conditions = sorted((str(c.get("key")), str(c.get("reason"))) for c in message.get("conditions") or ())
    parts: dict[str, Any] = {
        "model": message.get("model"),
        "channel": channel,
        "kind": message.get("kind"),
        "severity": message.get("severity"),
        "window_start": message.get("window_start"),
        "conditions": conditions,
    }
    if not message.get("window_start"):
        parts |= {"title": message.get("title"), "text": message.get("text")}
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"dw-{digest[:32]}"
