from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from driftwarden.checks.windows import window_ending_at, windows_between

DAY, HOUR6 = timedelta(days=1), timedelta(hours=6)


def test_day_windows_are_half_open_local_days_across_dst():
    ws = windows_between("2026-10-24", "2026-10-27", DAY, "Europe/Berlin")
    assert [w.start.isoformat() for w in ws] == [
        "2026-10-24T00:00:00+02:00",
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
    ]
    assert [(w.end - w.start) / pd.Timedelta(hours=1) for w in ws] == [24, 25, 24]  # DST ends on the 25th
    assert all(a.end == b.start for a, b in zip(ws, ws[1:], strict=False))


def test_window_end_defaults_to_the_last_complete_window():
    w = window_ending_at(pd.Timestamp("2026-03-29T15:30", tz="UTC"), DAY, "Europe/Berlin")
    assert w.start.isoformat() == "2026-03-28T00:00:00+01:00"
    assert w.end.isoformat() == "2026-03-29T00:00:00+01:00"


def test_sub_day_windows_stay_on_the_local_grid():
    ws = windows_between("2026-03-29", "2026-03-30", HOUR6, "Europe/Berlin")  # spring forward at 02:00
    assert [w.start.strftime("%H:%M") for w in ws] == ["00:00", "06:00", "12:00", "18:00"]
    assert (ws[0].end - ws[0].start) == pd.Timedelta(hours=5)


def test_windows_stay_on_the_grid_where_dst_starts_at_midnight():
    ws = windows_between("2026-09-04", "2026-09-09", DAY, "America/Santiago")  # clocks jump 00:00 -> 01:00
    starts = [w.start.strftime("%m-%d %H:%M") for w in ws]
    assert starts == ["09-04 00:00", "09-05 00:00", "09-06 01:00", "09-07 00:00", "09-08 00:00"]


@pytest.mark.parametrize("tz", ["America/Santiago", "Europe/Berlin", "Asia/Beirut", "UTC"])
@pytest.mark.parametrize("hours", [1, 6, 24, 24 * 7])
def test_a_window_ending_at_any_boundary_is_the_one_a_backfill_walks(tz, hours):
    """Scheduled and manual runs (window_ending_at) and backfills (windows_between) must name the same
    windows, also where DST starts at midnight (Santiago, Beirut): else one period is stored twice."""
    length = timedelta(hours=hours)
    for start, end in (("2026-08-24", "2026-09-15"), ("2026-03-16", "2026-04-06"), ("2026-10-19", "2026-11-09")):
        grid = windows_between(start, end, length, tz)
        assert grid and all(a.end == b.start for a, b in zip(grid, grid[1:], strict=False))
        for w in grid:
            assert window_ending_at(w.end, length, tz) == w, (tz, hours, w.label)
            inside = w.end + length / 4  # a time inside the next window
            assert window_ending_at(inside, length, tz).end == w.end, (tz, hours, w.label)


def test_weeks_start_on_local_monday_midnight():
    ws = windows_between("2026-03-23", "2026-04-07", timedelta(days=7), "Asia/Jerusalem")  # DST on a Friday
    assert [w.start.strftime("%a %H:%M") for w in ws] == ["Mon 00:00", "Mon 00:00"]


def test_wall_shift_counts_calendar_days_across_dst():
    from driftwarden.checks.windows import wall_shift

    end = pd.Timestamp("2026-10-27", tz="Europe/Berlin")
    assert wall_shift(end, -timedelta(days=5)).isoformat() == "2026-10-22T00:00:00+02:00"  # 121 hours back
