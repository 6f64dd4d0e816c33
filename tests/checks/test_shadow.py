"""Which windows judge a waiting challenger, when they are ready, and what the retrain's holdout may still veto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from driftwarden.checks.champion import Comparison
from driftwarden.checks.shadow import ShadowWindow, screen_on_holdout, shadow_deadline, shadow_plan

DAY = timedelta(days=1)
T0 = datetime(2026, 10, 21, tzinfo=UTC)


def _w(i: int, rows: int, labelled: int, mature: bool) -> ShadowWindow:
    return ShadowWindow(T0 + i * DAY, T0 + (i + 1) * DAY, rows, labelled, mature)


def test_the_first_windows_with_predictions_judge_once_mature_and_more_are_taken_until_the_rows_suffice():
    deadline = shadow_deadline(T0, 1, DAY, 5 * DAY)
    assert deadline == T0 + 3 * DAY + 10 * DAY
    # no predictions yet after the holdout (the window is scored by the run that comes after it)
    assert shadow_plan([_w(0, 0, 0, False)], 1, 2000, T0 + DAY, deadline).state == "waiting"
    waiting = shadow_plan([_w(0, 2500, 2000, False)], 1, 2000, T0 + 2 * DAY, deadline)
    assert waiting.state == "waiting" and "to mature" in waiting.reason
    ready = shadow_plan([_w(0, 2500, 2480, True), _w(1, 2500, 900, False)], 1, 2000, T0 + 3 * DAY, deadline)
    assert ready.state == "ready" and [w.start for w in ready.windows] == [T0] and ready.labelled == 2480
    # small windows: as many as it takes for the rows; an empty one (a dead feed) is skipped, not counted
    small = [_w(0, 500, 500, True), _w(1, 0, 0, True), _w(2, 500, 500, True), _w(3, 500, 490, True)]
    assert shadow_plan(small, 1, 1400, T0 + 5 * DAY, deadline).state == "ready"
    short = shadow_plan(small, 1, 2000, T0 + 5 * DAY, deadline)
    assert short.state == "waiting" and "510 more labelled rows" in short.reason
    late = shadow_plan(small, 1, 2000, deadline, deadline)
    assert late.state == "expired" and "shadow_min_rows 2000" in late.reason


def _comparison(chal: float, champ: float, promote: bool) -> Comparison:
    scores = {"challenger": {"accuracy": chal}, "champion": {"accuracy": champ}, "baseline": {"accuracy": 0.6}}
    reasons = ("the paired test is not significant",) if not promote else ("the challenger beats the champion",)
    return Comparison("accuracy", scores, chal - champ, "McNemar", 0.2, promote, reasons, 500)


def test_the_holdout_only_vetoes_a_challenger_that_does_not_lead_there():
    lead = screen_on_holdout(_comparison(0.81, 0.80, promote=False))
    assert lead.promote and "leads the champion" in lead.reasons[0] and lead.reasons[1].startswith("the paired")
    assert not screen_on_holdout(_comparison(0.79, 0.80, promote=False)).promote
    assert not screen_on_holdout(_comparison(0.80, 0.80, promote=False)).promote
    proven = _comparison(0.9, 0.7, promote=True)
    assert screen_on_holdout(proven) is proven
