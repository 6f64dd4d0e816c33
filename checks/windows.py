"""Half-open monitoring windows [start, end), aligned to the window length in the model's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd


@dataclass(frozen=True)
class Window:
    start: pd.Timestamp
    """Inclusive start, time-zone aware (the model's zone)."""
    end: pd.Timestamp
    """Exclusive end, time-zone aware."""

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()} .. {self.end.isoformat()}"


def _local(ts: datetime | pd.Timestamp | str, tz: str) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize(ZoneInfo(tz)) if t.tzinfo is None else t.tz_convert(ZoneInfo(tz))


def _floor(t: pd.Timestamp, length: timedelta) -> pd.Timestamp:
    """The aligned boundary at or before ``t``: local midnights, Mondays, or k-hour marks of the local day."""
    midnight = pd.Timestamp(datetime.combine(t.date(), datetime.min.time()), tz=t.tz)
    if length >= timedelta(days=7):  # Monday 00:00 by the local clock, whatever the DST changes
        return _at_wall(midnight, -timedelta(days=t.weekday()))
    if length >= timedelta(days=1):
        return midnight
    step = int(length.total_seconds())
    # Wall-clock hours since local midnight, so windows stay on the local grid across DST changes.
    wall = t.tz_localize(None) - midnight.tz_localize(None)
    k = int(wall.total_seconds()) // step
    return _at_wall(midnight, timedelta(seconds=k * step))


def _at_wall(midnight: pd.Timestamp, offset: timedelta) -> pd.Timestamp:
    naive = midnight.tz_localize(None) + offset
    return naive.tz_localize(midnight.tz, nonexistent="shift_forward", ambiguous=True)


def _next(start: pd.Timestamp, length: timedelta) -> pd.Timestamp:
    """The next boundary by the local wall clock (a day is 23 or 25 hours across a DST change).

    A boundary that fell in a DST gap was shifted forward (Santiago's midnight becomes 01:00); the next one
    is computed from the intended wall-clock boundary so that windows stay on the grid."""
    naive = start.tz_localize(None)
    base = naive.normalize()
    if length < timedelta(days=1):
        base += ((naive - base) // length) * length
    return (base + length).tz_localize(start.tz, nonexistent="shift_forward", ambiguous=True)


def window_ending_at(end: datetime | pd.Timestamp | str, length: timedelta, tz: str) -> Window:
    """The window whose end is the aligned boundary at or before ``end``."""
    boundary = _floor(_local(end, tz), length)
    start = _floor(boundary - pd.Timedelta(seconds=1), length)
    return Window(start, boundary)


def windows_between(
    start: datetime | pd.Timestamp | str, end: datetime | pd.Timestamp | str, length: timedelta, tz: str
) -> list[Window]:
    """Every complete window that lies in [start, end): start is aligned down, end is aligned down."""
    first = _floor(_local(start, tz), length)
    stop = _floor(_local(end, tz), length)
    out: list[Window] = []
    cur = first
    while cur < stop:
        nxt = _next(cur, length)
        out.append(Window(cur, nxt))
        cur = nxt
    return out


def wall_shift(t: pd.Timestamp, delta: timedelta) -> pd.Timestamp:
    """``t`` moved by ``delta`` on the local wall clock: 5 days before a time is 5 calendar days, also
    across a DST change (where it is 119 or 121 hours)."""
    naive = t.tz_localize(None) + delta
    return naive.tz_localize(t.tz, nonexistent="shift_forward", ambiguous=True)
