"""Incidents from streams of window states: generated streams of several shapes, and the cases that matter."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

import pytest

from driftwarden.checks.incidents import (
    CHECK_OF_CAUSE,
    RetrainAttempt,
    Version,
    WindowState,
    derive_incidents,
    incident_id,
    kpis_clear,
    window_state,
)

T0 = datetime(2026, 3, 1)
CAUSES = ("volume", "data_quality", "input_drift", "concept_change", "undetermined")


def _stream(rng: random.Random, n: int, length: timedelta, label_delay: int) -> list[WindowState]:
    """A stream of window states as a store would hold them at the end: breaches in runs (episodes), ok
    windows, failed runs and pending labels for the last ``label_delay`` windows (their KPIs not evaluated)."""
    out = []
    active: set[str] = set()
    for i in range(n):
        start = T0 + i * length
        end = start + length
        as_of = end + max(label_delay, 0) * length
        # episodes: a cause switches on and off now and then, so breaches come in runs
        for c in CAUSES:
            if c in active and rng.random() < 0.35:
                active.discard(c)
            elif c not in active and rng.random() < 0.08:
                active.add(c)
        pending = i >= n - label_delay
        if rng.random() < 0.05:
            out.append(WindowState(start, end, "failed", as_of=end))
            continue
        causes = tuple(c for c in CAUSES if c in active and not (pending and c in ("concept_change", "undetermined")))
        checks: dict[str, bool | None] = {}
        for c, check in CHECK_OF_CAUSE.items():
            if check == "kpis" and pending:
                checks[check] = None
            elif c in causes:
                checks[check] = False
            else:
                checks.setdefault(check, rng.random() > 0.1)  # now and then a check fails below the verdict
        if any(c in causes for c in ("concept_change", "undetermined")):
            checks["kpis"] = False
        if rng.random() < 0.1:
            checks["drift"] = None  # too few rows for drift
        status = "breach" if causes else rng.choice(["ok", "ok", "warning"])
        known = {c: (as_of if c in ("concept_change", "undetermined") else end) for c in causes}
        cleared = {k: (as_of if k == "kpis" else end) for k, v in checks.items() if v is True}
        out.append(WindowState(start, end, status, causes, 100 + i, 50, 0.5, as_of, checks, known, cleared))
    return out


def _starts(inc):
    return {x.window_start for x in inc.windows}


SHAPES = [
    ("hourly", timedelta(hours=1), 0),
    ("hourly, labels a day late", timedelta(hours=1), 24),
    ("daily", timedelta(days=1), 0),
    ("daily, labels 5 days late", timedelta(days=1), 5),
    ("weekly", timedelta(weeks=1), 0),
    ("weekly, labels two weeks late", timedelta(weeks=1), 2),
]


@pytest.mark.parametrize(("shape", "length", "delay"), SHAPES, ids=[s[0] for s in SHAPES])
@pytest.mark.parametrize("seed", range(8))
def test_generated_streams_keep_the_rules(shape, length, delay, seed):
    rng = random.Random(f"{shape}-{seed}")
    windows = _stream(rng, 120, length, delay)
    incidents = derive_incidents("fraud model", windows)
    # every breached (window, cause) is in exactly one incident of that cause
    for w in windows:
        if w.status == "breach":
            for c in w.causes:
                holders = [i for i in incidents if i.cause == c and w.window_start in _starts(i)]
                assert len(holders) == 1, (w, c)
    assert sum(len(i.windows) for i in incidents) == sum(len(w.causes) for w in windows if w.status == "breach")
    ids = [i.id for i in incidents]
    assert len(set(ids)) == len(ids)
    by_start = {w.window_start: w for w in windows}
    for inc in incidents:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", inc.id), inc.id
        assert inc.opened_at == min(x.known_at for x in inc.windows)
        assert inc.opened_at <= inc.updated_at
        assert [x.window_start for x in inc.windows] == sorted(x.window_start for x in inc.windows)
        assert inc.rows == sum(by_start[x.window_start].rows or 0 for x in inc.windows)
        inside = [w for w in windows if inc.first_window <= w.window_start <= inc.last_window]
        assert not any(w.clears(inc.cause) for w in inside), "an incident never spans a window that clears it"
        if inc.state == "closed":
            assert inc.closed_at is not None and inc.cleared_by is not None
            assert max(x.known_at for x in inc.windows) <= inc.closed_at <= inc.updated_at
            closer = by_start[inc.cleared_by]
            assert closer.clears(inc.cause) and closer.window_start > inc.last_window
            between = [w for w in windows if inc.last_window < w.window_start < inc.cleared_by]
            assert not any(w.clears(inc.cause) or w.breached_with(inc.cause) for w in between)
        else:
            assert inc.closed_at is None
            after = [w for w in windows if w.window_start > inc.last_window]
            assert not any(w.clears(inc.cause) for w in after)
    for c in CAUSES:  # at most one open incident a cause, and it is the last of that cause
        mine = [i for i in incidents if i.cause == c]
        assert sum(i.state == "open" for i in mine) <= 1
        assert all(i.state == "closed" for i in mine[:-1])
        assert all(a.last_window < b.first_window for a, b in zip(mine, mine[1:], strict=False))
    # stable: the incidents of a prefix of the stream keep their ids (the store upserts by id)
    prefix = derive_incidents("fraud model", windows[:80])
    assert {i.id for i in prefix if i.state == "closed"} <= set(ids)
    assert {i.id for i in prefix} <= set(ids)


def _w(day: int, status: str, causes=(), checks=None, known=None, as_of_days=0, cleared=None, rows=1000):
    start = T0 + timedelta(days=day)
    end = start + timedelta(days=1)
    as_of = end + timedelta(days=as_of_days)
    return WindowState(
        start, end, status, tuple(causes), rows, rows, 1.0, as_of, checks or {}, known or {}, cleared or {}
    )


def test_a_concept_change_spans_a_thin_night_and_closes_on_mature_kpis_only():
    cc = {"kpis": False, "volume": True, "validation": True, "drift": True}
    windows = [
        _w(0, "ok", checks={"kpis": True, "volume": True}),
        *[_w(d, "breach", ["concept_change"], cc, {"concept_change": T0 + timedelta(days=d + 6)}) for d in (1, 2, 3)],
        _w(4, "breach", ["volume"], {"volume": False, "kpis": None}, {"volume": T0 + timedelta(days=5)}, rows=40),
        _w(5, "failed"),
        _w(6, "ok", checks={"kpis": None, "volume": True}),  # labels pending: no word on the KPIs
        _w(7, "ok", checks={"kpis": True, "volume": True}, cleared={"kpis": T0 + timedelta(days=13)}),
    ]
    concept, thin = derive_incidents("credit_risk", windows, tz="UTC")
    assert concept.id == "credit-risk-2026-03-02-concept-change" and concept.cause == "concept_change"
    assert [w.window_start.day for w in concept.windows] == [2, 3, 4]
    assert concept.opened_at == T0 + timedelta(days=7)  # when the first window's labels matured
    assert concept.state == "closed" and concept.cleared_by == T0 + timedelta(days=7)
    assert concept.closed_at == T0 + timedelta(days=13)
    assert concept.rows == 3000
    assert thin.cause == "volume" and thin.state == "closed" and thin.rows == 40
    assert thin.cleared_by == T0 + timedelta(days=6)  # the failed night says nothing; the next one passes


def test_two_causes_at_once_are_two_incidents_each_closing_on_its_own_check():
    both = _w(1, "breach", ["data_quality", "input_drift"], {"validation": False, "drift": False})
    windows = [
        both,
        _w(2, "breach", ["input_drift"], {"validation": True, "drift": False}),
        _w(3, "ok", checks={"validation": True, "drift": None}),  # drift not evaluated: the drift stays open
    ]
    dq, drift = derive_incidents("m", windows)
    assert (dq.cause, dq.state, len(dq.windows)) == ("data_quality", "closed", 1)
    assert dq.cleared_by == windows[1].window_start
    assert (drift.cause, drift.state, len(drift.windows)) == ("input_drift", "open", 2)


def test_a_check_failing_below_the_verdict_neither_extends_nor_closes():
    windows = [
        _w(1, "breach", ["input_drift"], {"drift": False}),
        _w(2, "warning", checks={"drift": False}),  # drifted features below the rule: no breach, no clearance
        _w(3, "breach", ["input_drift"], {"drift": False}),
        _w(4, "ok", checks={"drift": True}),
        _w(5, "breach", ["input_drift"], {"drift": False}),
    ]
    first, second = derive_incidents("m", windows)
    assert len(first.windows) == 2 and first.state == "closed"
    assert second.state == "open" and second.id.endswith("2026-03-06-input-drift")


def test_retrain_attempts_update_the_incident_they_answer():
    windows = [
        _w(1, "breach", ["concept_change"], {"kpis": False}, {"concept_change": T0 + timedelta(days=6)}),
        _w(2, "ok", checks={"kpis": True}, cleared={"kpis": T0 + timedelta(days=9)}),
        _w(20, "breach", ["volume"], {"volume": False}),
    ]
    promoted = RetrainAttempt(
        T0 + timedelta(days=7), "promoted", "concept_change", "auto", 2, "roc_auc", "DeLong (one-sided)", 1e-9
    )
    refused = RetrainAttempt(T0 + timedelta(days=8), "refused", None, "auto", reasons=("cooldown",))
    late = RetrainAttempt(T0 + timedelta(days=30), "kept", "concept_change")
    concept, thin = derive_incidents("m", windows, [late, refused, promoted])
    assert concept.attempts == (promoted, refused)
    assert [e.kind for e in concept.events] == [
        "opened", "retrain_started", "retrain_ended", "retrain_started", "retrain_ended", "cleared",
    ]  # fmt: skip
    assert concept.updated_at == concept.closed_at == T0 + timedelta(days=9)
    assert thin.attempts == ()  # a thin feed is never retrained for


def test_window_state_is_known_when_the_labels_matured_not_at_the_first_run():
    start, end = T0, T0 + timedelta(days=1)
    versions = [
        Version(1, "ok", (), end, {"kpis": None, "volume": True}),
        Version(2, "warning", (), end + timedelta(days=1), {"kpis": None, "volume": True}),
        Version(3, "failed", (), end + timedelta(days=2)),
        Version(4, "breach", ("concept_change",), end + timedelta(days=5), {"kpis": False, "volume": True}),
    ]
    w = window_state(start, end, versions, rows=2500, labelled_rows=2500, label_coverage=1.0)
    assert w.status == "breach" and w.causes == ("concept_change",)
    assert w.known_at == {"concept_change": end + timedelta(days=5)}
    assert w.cleared_at == {"volume": end}  # passed since the first version


def test_kpis_clear_needs_every_kpi_mature_and_meeting_its_target():
    def row(level, passed, mature=True, segment="all"):
        return {"kind": "kpi", "segment": segment, "passed": passed, "details": {"level": level, "mature": mature}}

    assert kpis_clear([row("ok", True), row("ok", True), row("breach", False, segment="region=x")]) is True
    assert kpis_clear([row("ok", True), row("warning", False)]) is False
    assert kpis_clear([row("ok", True), row("ok", True, mature=False)]) is None
    assert kpis_clear([row("pending", None, mature=False)]) is None
    assert kpis_clear([]) is None


def test_ids_are_artifact_keys_with_the_hour_of_sub_daily_windows():
    assert incident_id("Credit_Risk", datetime(2026, 10, 18, 22), "concept_change", "Europe/Berlin") == (
        "credit-risk-2026-10-19-concept-change"
    )
    assert incident_id("fraud", datetime(2026, 10, 18, 13), "volume", "UTC") == "fraud-2026-10-18-1300-volume"
