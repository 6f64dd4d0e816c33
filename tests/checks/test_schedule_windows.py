"""Scheduled windows with late data, across DST changes, and the missed windows a run catches up first."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from driftwarden.checks.windows import missed_windows, scheduled_window, window_ending_at

DAY = timedelta(days=1)
BERLIN = "Europe/Berlin"


def t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def test_no_lateness_is_the_last_complete_window():
    w = scheduled_window(t("2026-03-10T00:30+01:00"), DAY, BERLIN, timedelta(0))
    assert (w.start, w.end) == (t("2026-03-09T00:00+01:00"), t("2026-03-10T00:00+01:00"))


def test_lateness_moves_back_to_the_window_whose_data_has_landed_across_spring_forward():
    # Berlin skips 02:00-03:00 on 2026-03-29: that local day has 23 hours.
    late = timedelta(hours=2)
    before = scheduled_window(t("2026-03-30T01:59+02:00"), DAY, BERLIN, late)
    assert (before.start, before.end) == (t("2026-03-28T00:00+01:00"), t("2026-03-29T00:00+01:00"))
    landed = scheduled_window(t("2026-03-30T02:00+02:00"), DAY, BERLIN, late)
    assert (landed.start, landed.end) == (t("2026-03-29T00:00+01:00"), t("2026-03-30T00:00+02:00"))
    assert landed.end - landed.start == timedelta(hours=23)


def test_lateness_across_fall_back_gives_the_25_hour_day():
    w = scheduled_window(t("2026-10-26T06:00+01:00"), DAY, BERLIN, timedelta(hours=6))
    assert (w.start, w.end) == (t("2026-10-25T00:00+02:00"), t("2026-10-26T00:00+01:00"))
    assert w.end - w.start == timedelta(hours=25)
    hourly = scheduled_window(t("2026-10-25T03:10+01:00"), timedelta(hours=1), BERLIN, timedelta(minutes=10))
    assert hourly.end == t("2026-10-25T03:00+01:00")  # the second 02:00-03:00 hour of that night


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="time-zone-aware"):
        scheduled_window(pd.Timestamp("2026-03-10"), DAY, BERLIN, timedelta(0))


def test_missed_windows_across_a_dst_change_oldest_first_without_the_done_ones():
    target = window_ending_at(t("2026-03-31T00:00+02:00"), DAY, BERLIN)
    last_ok_end = t("2026-03-26T00:00+01:00")
    plan = missed_windows(last_ok_end, {t("2026-03-27T00:00+01:00")}, target, DAY, BERLIN, limit=7)
    assert [w.start for w in plan.windows] == [
        t("2026-03-26T00:00+01:00"),
        t("2026-03-28T00:00+01:00"),
        t("2026-03-29T00:00+01:00"),
    ]
    assert plan.windows[-1].end == target.start and plan.left == ()
    assert plan.windows[-1].end - plan.windows[-1].start == timedelta(hours=23)
    assert plan.note("config/m.yaml").startswith("caught up 3 missed window(s) from 2026-03-26T00:00:00+01:00")


def test_missed_windows_beyond_the_limit_are_left_and_said():
    target = window_ending_at(t("2026-03-11T00:00+01:00"), DAY, BERLIN)
    plan = missed_windows(t("2026-03-01T00:00+01:00"), set(), target, DAY, BERLIN, limit=2)
    assert [w.start.day for w in plan.windows] == [8, 9] and plan.windows[-1].end == target.start
    assert [w.start.day for w in plan.left] == [1, 2, 3, 4, 5, 6, 7]
    assert (
        "7 older missed window(s) were left (max_missed_windows): "
        "run `driftwarden backfill --config config/m.yaml --start " in plan.note("config/m.yaml")
    )
    assert plan.note("config/m.yaml").endswith("--start 2026-03-01T00:00:00+01:00 --end 2026-03-08T00:00:00+01:00`")


def test_nothing_is_missed_without_an_earlier_run_or_with_the_catch_up_off():
    target = window_ending_at(t("2026-03-11T00:00+01:00"), DAY, BERLIN)
    assert missed_windows(None, set(), target, DAY, BERLIN, limit=7).windows == ()
    assert missed_windows(t("2026-03-01T00:00+01:00"), set(), target, DAY, BERLIN, limit=0).windows == ()
    assert missed_windows(target.start, set(), target, DAY, BERLIN, limit=7).windows == ()
    assert missed_windows(target.start, set(), target, DAY, BERLIN, limit=7).note("c.yaml") == ""
