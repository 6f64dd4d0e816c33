"""Incidents (pure): breach episodes of a model, derived from the latest stored version of each window.

An incident is one cause's episode of breaches, and a window carrying two causes at once belongs to two
incidents. The rules, in time order of the windows:

- **opens**: a window whose verdict is ``breach`` with cause C, while no incident of C is open. Its id names
  the model, the first window's local date (and hour, for windows that do not start at midnight) and C.
  ``opened_at`` is when the breach became *known*: the earliest as-of of the window's stored versions that
  showed C. A concept change is known only once the window's labels matured, days after the window ended.
- **extends**: a later window breached with C joins the open incident of C (its last window moves).
- **carries on**: a window that neither carries C nor clears it leaves the incident open and unchanged: a
  failed run, labels still pending, a window breached for another cause (a thin feed in the middle of a
  concept change says nothing about the KPIs), or a check that fails without being the verdict's cause.
- **closes**: a later window where the check behind C was evaluated and passed: KPIs evaluated on mature
  labels and meeting their targets (concept_change, undetermined); validation passing (data_quality); volume
  passing (volume); drift evaluated and not breaching the dataset rule (input_drift). ``closed_at`` is when
  that became known (the as-of from which the check has passed; never before the incident's last breach was
  known).
- **updated**: each time something is learnt: a later window joins, a retrain starts and ends (promoted, kept,
  refused, failed), the condition clears. ``updated_at`` is the latest of these.

Times are naive UTC datetimes (the store's convention) in data time: a run's as-of, a retrain's as-of, so
that a backfill's replay of history tells the same story as the nights did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pandas as pd

KPI_CAUSES = ("concept_change", "undetermined")
CHECK_OF_CAUSE: dict[str, str] = {
    "volume": "volume",
    "data_quality": "validation",
    "input_drift": "drift",
    "concept_change": "kpis",
    "undetermined": "kpis",
}
"""The check whose passing closes an incident of each cause."""
RETRAIN_CAUSES = ("concept_change", "undetermined", "input_drift")
"""Causes a retrain may answer (the policy never retrains for a thin feed or broken data)."""

EventKind = Literal["opened", "extended", "retrain_started", "retrain_ended", "cleared"]


@dataclass(frozen=True)
class WindowState:
    """The latest stored version of one window, as incidents need it.

    ``checks``: for ``volume``, ``validation``, ``drift``, ``kpis``: True when evaluated and passed, False when
    evaluated and failed, absent or None when not evaluated (KPIs on immature labels are not evaluated).
    ``known_at``: per cause of this window, when it was first seen (the earliest version's as-of showing it).
    ``cleared_at``: per check that passes, since when it has passed (KPIs pass once their labels matured)."""

    window_start: datetime
    window_end: datetime
    status: str
    causes: tuple[str, ...] = ()
    rows: int | None = None
    labelled_rows: int | None = None
    label_coverage: float | None = None
    as_of: datetime | None = None
    checks: Mapping[str, bool | None] = field(default_factory=dict)
    known_at: Mapping[str, datetime] = field(default_factory=dict)
    cleared_at: Mapping[str, datetime] = field(default_factory=dict)

    def breached_with(self, cause: str) -> bool:
        return self.status == "breach" and cause in self.causes

    def clears(self, cause: str) -> bool:
        return not self.breached_with(cause) and self.checks.get(CHECK_OF_CAUSE.get(cause, "")) is True


@dataclass(frozen=True)
class RetrainAttempt:
    """One retrain attempt from the registry (plain data): when (data time), why, and how it ended."""

    as_of: datetime
    outcome: str | None
    """promoted, kept, refused, failed (None: still running, or an attempt that wrote no outcome)."""
    cause: str | None = None
    reason: str = ""
    version: int | None = None
    metric: str | None = None
    test: str | None = None
    p_value: float | None = None
    scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """holdout_scores: challenger, champion, baseline -> metric -> value."""
    reasons: tuple[str, ...] = ()
    rows: Mapping[str, int] = field(default_factory=dict)
    training_rule: str | None = None
    champion_before: int | None = None
    champion_after: int | None = None
    decided: datetime | None = None
    """When a challenger that waited for its shadow windows was decided (data time); None: decided at once."""
    shadow_windows: int = 0
    """The windows after the holdout it waited for (0: judged on the retrain's holdout alone)."""
    shadow_reason: str | None = None
    """Why it expired, or what it still waits for."""

    @property
    def ended(self) -> datetime:
        return self.decided or self.as_of

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RetrainAttempt | None:
        """An attempt file's JSON; None without an as-of (nothing to place it in time by)."""
        when = _naive_utc(d.get("as_of") or d.get("started_at"))
        if when is None:
            return None
        p = d.get("p_value")
        shadow = d.get("shadow") or {}
        return cls(
            as_of=when,
            outcome=d.get("outcome"),
            cause=d.get("cause"),
            reason=str(d.get("reason") or ""),
            version=d.get("version"),
            metric=d.get("metric"),
            test=d.get("test"),
            p_value=float(p) if isinstance(p, int | float) else None,
            scores={k: dict(v) for k, v in (d.get("holdout_scores") or {}).items() if isinstance(v, Mapping)},
            reasons=tuple(str(r) for r in d.get("reasons") or ()),
            rows={k: int(v) for k, v in (d.get("rows") or {}).items() if isinstance(v, int | float)},
            training_rule=d.get("training_rule"),
            champion_before=d.get("champion_before"),
            champion_after=d.get("champion_after"),
            decided=_naive_utc(shadow.get("decided_as_of")),
            shadow_windows=int(shadow.get("windows") or 0),
            shadow_reason=shadow.get("reason"),
        )


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: EventKind
    text: str


@dataclass(frozen=True)
class IncidentWindow:
    """A window that carried the incident's cause."""

    window_start: datetime
    window_end: datetime
    rows: int | None
    labelled_rows: int | None
    label_coverage: float | None
    known_at: datetime | None


@dataclass(frozen=True)
class Incident:
    id: str
    model: str
    cause: str
    state: Literal["open", "closed"]
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    windows: tuple[IncidentWindow, ...]
    cleared_by: datetime | None = None
    """The start of the window whose passing check closed it."""
    attempts: tuple[RetrainAttempt, ...] = ()
    events: tuple[Event, ...] = ()
    timezone: str = "UTC"

    @property
    def first_window(self) -> datetime:
        return self.windows[0].window_start

    @property
    def last_window(self) -> datetime:
        return self.windows[-1].window_start

    @property
    def last_window_end(self) -> datetime:
        return self.windows[-1].window_end

    @property
    def rows(self) -> int:
        """Predictions made in the windows that carried the cause."""
        return sum(w.rows or 0 for w in self.windows)

    @property
    def title(self) -> str:
        first, last = local_label(self.first_window, self.timezone), local_label(self.last_window, self.timezone)
        span = first if first == last else f"{first} to {last}"
        return f"{self.model}: {CAUSE_WORDS.get(self.cause, self.cause)} ({span})"


CAUSE_WORDS = {
    "volume": "too few predictions",
    "data_quality": "broken input data",
    "input_drift": "inputs drifted",
    "concept_change": "concept change",
    "undetermined": "KPI breach of unknown cause",
}


def _naive_utc(ts: Any) -> datetime | None:
    if ts is None or (isinstance(ts, float) and ts != ts):
        return None
    try:
        t = pd.Timestamp(ts)
    except (TypeError, ValueError):
        return None
    if t is pd.NaT:
        return None
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.to_pydatetime()


def local_label(ts: datetime, tz: str) -> str:
    """A window start as its local date, with the hour when it does not start at midnight (hourly windows)."""
    t = pd.Timestamp(ts).tz_localize("UTC").tz_convert(tz)
    return t.strftime("%Y-%m-%d") if (t.hour, t.minute) == (0, 0) else t.strftime("%Y-%m-%d %H:%M")


def slug(text: str) -> str:
    """Lowercase letters, digits and single dashes (a Prefect artifact key's alphabet)."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")


def incident_id(model: str, first_window: datetime, cause: str, tz: str = "UTC") -> str:
    """``credit-risk-2026-10-19-concept-change``: stable while the first window and cause are."""
    return slug(f"{model}-{local_label(first_window, tz).replace(':', '')}-{cause}")


@dataclass
class _Open:
    cause: str
    windows: list[IncidentWindow]
    opened_at: datetime
    events: list[Event]


def derive_incidents(
    model: str,
    windows: Iterable[WindowState],
    attempts: Iterable[RetrainAttempt] = (),
    tz: str = "UTC",
) -> list[Incident]:
    """The incidents of a model from its windows (any order; they are sorted by start) and its retrain
    attempts, in order of their first window (then cause). See the module's docstring for the rules."""
    ordered = sorted(windows, key=lambda w: w.window_start)
    open_: dict[str, _Open] = {}
    done: list[tuple[_Open, datetime, datetime]] = []  # (episode, closed_at, cleared_by)
    for w in ordered:
        for cause, ep in list(open_.items()):
            if w.clears(cause):
                check = CHECK_OF_CAUSE[cause]
                # not before the last breach of the episode was known: a clearance is news only after it
                latest = max(x.known_at or x.window_end for x in ep.windows)
                at = max(w.cleared_at.get(check) or w.as_of or w.window_end, latest)
                done.append((ep, at, w.window_start))
                del open_[cause]
        if w.status != "breach":
            continue
        for cause in dict.fromkeys(w.causes):
            known = w.known_at.get(cause) or w.as_of or w.window_end
            iw = IncidentWindow(w.window_start, w.window_end, w.rows, w.labelled_rows, w.label_coverage, known)
            current = open_.get(cause)
            if current is None:
                text = f"breach ({cause}) found in the window of {local_label(w.window_start, tz)}"
                open_[cause] = _Open(cause, [iw], known, [Event(known, "opened", text)])
            else:
                current.windows.append(iw)
                text = f"the window of {local_label(w.window_start, tz)} breached too"
                current.events.append(Event(known, "extended", text))
                # a later window may be known before an earlier one (labels mature at different speeds)
                current.opened_at = min(current.opened_at, known)
    episodes = [(ep, closed, by) for ep, closed, by in done] + [(ep, None, None) for ep in open_.values()]
    pool = sorted(attempts, key=lambda a: a.as_of)
    out = []
    for ep, closed, by in episodes:
        mine = tuple(a for a in pool if _belongs(a, ep, closed))
        events = list(ep.events) + [e for a in mine for e in _attempt_events(a)]
        if closed is not None:
            events.append(Event(closed, "cleared", _cleared_words(ep.cause, by, tz)))
        events.sort(key=lambda e: e.at)
        out.append(
            Incident(
                id=incident_id(model, ep.windows[0].window_start, ep.cause, tz),
                model=model,
                cause=ep.cause,
                state="closed" if closed is not None else "open",
                opened_at=ep.opened_at,
                updated_at=max(e.at for e in events),
                closed_at=closed,
                windows=tuple(ep.windows),
                cleared_by=by,
                attempts=mine,
                events=tuple(events),
                timezone=tz,
            )
        )
    return sorted(out, key=lambda i: (i.first_window, i.cause))


def _belongs(a: RetrainAttempt, ep: _Open, closed: datetime | None) -> bool:
    """A retrain answers an incident when it was decided while the incident was open (in data time: from its
    first window's start, since the policy may act on a breach this list learnt of in the same run) and names
    its cause; an attempt that names no cause (refused before it decided one) answers any retrainable one."""
    if a.as_of < ep.windows[0].window_start or (closed is not None and a.as_of > closed):
        return False
    return a.cause == ep.cause if a.cause else ep.cause in RETRAIN_CAUSES


def _attempt_events(a: RetrainAttempt) -> list[Event]:
    started = Event(a.as_of, "retrain_started", f"retrain started: {a.reason}".rstrip(": "))
    if not a.outcome:
        return [started]
    events = [started]
    if a.shadow_windows:
        events.append(
            Event(
                a.as_of,
                "retrain_started",
                f"the retrained model v{a.version} passed on the retrain's holdout and waits for the labels of "
                f"{a.shadow_windows} later window(s) before any promotion",
            )
        )
    if a.outcome == "pending":
        return events
    where = " on the windows after its holdout" if a.shadow_windows else ""
    if a.outcome == "promoted":
        text = f"the retrained model v{a.version} was promoted to champion{where}"
    elif a.outcome == "kept":
        text = f"the retrained model did not beat the champion{where}, which was kept"
    elif a.outcome == "refused":
        text = "the retrain was refused before training"
    elif a.outcome == "expired":
        text = f"the retrained model v{a.version} expired without a decision: {a.shadow_reason or 'no windows came'}"
    else:
        text = f"the retrain ended: {a.outcome}"
    if a.reasons and a.outcome != "expired":
        text += f" ({'; '.join(a.reasons)})"
    return [*events, Event(a.ended, "retrain_ended", text)]


def _cleared_words(cause: str, by: datetime | None, tz: str) -> str:
    where = f" in the window of {local_label(by, tz)}" if by is not None else ""
    what = {
        "volume": "the volume of predictions was back above its floor",
        "data_quality": "the data passed its validation rules again",
        "input_drift": "the inputs no longer drifted beyond the dataset rule",
    }.get(cause, "the KPIs met their targets again on mature labels")
    return what + where


# --- from the store's rows to WindowState (plain data still: the flows hand in the rows) --------------


def kpis_clear(kpi_rows: Sequence[Mapping[str, Any]]) -> bool | None:
    """The KPI check of one version from its KPI rows of segment ``all``: True when every KPI was evaluated on
    mature labels and meets its target, False when one was evaluated and misses it (a breach, or a point value
    beyond the target), None when not all were evaluated on mature labels (pending labels say nothing)."""
    rows = [r for r in kpi_rows if r.get("segment", "all") == "all"]
    if not rows:
        return None
    verdicts: list[bool | None] = []
    for r in rows:
        d = r.get("details") or {}
        if d.get("level") == "breach":
            return False
        if d.get("level") not in ("ok", "warning") or not d.get("mature") or d.get("incomplete"):
            verdicts.append(None)
        else:
            verdicts.append(r.get("passed") is True)
    if any(v is None for v in verdicts):
        return None
    return all(verdicts)


def checks_of(metric_rows: Sequence[Mapping[str, Any]]) -> dict[str, bool | None]:
    """The four checks of one version from its metric rows (dicts with kind, segment, passed, details)."""
    out: dict[str, bool | None] = {}
    volume = [r for r in metric_rows if r.get("kind") == "volume"]
    if volume:
        out["volume"] = all(r.get("passed") is not False for r in volume)
    validation = [r for r in metric_rows if r.get("kind") == "validation"]
    if validation:
        out["validation"] = all(r.get("passed") is not False for r in validation)
    dataset = [r for r in metric_rows if r.get("kind") == "drift" and (r.get("details") or {}).get("role") == "dataset"]
    if dataset and dataset[0].get("passed") is not None:
        out["drift"] = bool(dataset[0]["passed"])
    out["kpis"] = kpis_clear([r for r in metric_rows if r.get("kind") == "kpi"])
    return out


@dataclass(frozen=True)
class Version:
    """One stored run version of a window, as ``window_state`` reads it."""

    run_version: int
    status: str
    causes: tuple[str, ...]
    as_of: datetime | None
    checks: Mapping[str, bool | None] = field(default_factory=dict)


def window_state(
    window_start: datetime,
    window_end: datetime,
    versions: Sequence[Version],
    rows: int | None = None,
    labelled_rows: int | None = None,
    label_coverage: float | None = None,
) -> WindowState:
    """A window's state from its versions (the current one last, by run version): the current status, causes
    and checks, when each cause was first seen, and since when each passing check has passed."""
    ordered = sorted(versions, key=lambda v: v.run_version)
    good = [v for v in ordered if v.status != "failed"]
    current = good[-1] if good else ordered[-1]
    known: dict[str, datetime] = {}
    for v in good:
        if v.status == "breach" and v.as_of is not None:
            for c in v.causes:
                known.setdefault(c, v.as_of)
    cleared: dict[str, datetime] = {}
    for check, ok in current.checks.items():
        if ok is not True:
            continue
        since = current.as_of
        for v in reversed(good):  # back through the run of versions where it passed
            if v.checks.get(check) is not True:
                break
            since = v.as_of or since
        if since is not None:
            cleared[check] = since
    return WindowState(
        window_start=window_start,
        window_end=window_end,
        status=current.status,
        causes=tuple(current.causes),
        rows=rows,
        labelled_rows=labelled_rows,
        label_coverage=label_coverage,
        as_of=current.as_of,
        checks=dict(current.checks),
        known_at={c: t for c, t in known.items() if c in current.causes},
        cleared_at=cleared,
    )
