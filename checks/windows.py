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
    """The aligned boundary at or before ``t``: local midnights, Mondays, or k-hour marks of the local day.

    Computed on the wall clock and localised once, like ``_next``: a boundary that falls in a DST gap
    (Santiago's midnight) is shifted forward, and the grid stays the one ``_next`` walks."""
    naive = t.tz_localize(None)
    base = naive.normalize()
    if length >= timedelta(days=7):  # Monday 00:00 by the local clock, whatever the DST changes
        base -= timedelta(days=naive.weekday())
    elif length < timedelta(days=1):  # wall-clock k-hour marks since local midnight
        base += ((naive - base) // length) * length
    return base.tz_localize(t.tz, nonexistent="shift_forward", ambiguous=True)


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


def scheduled_window(now: datetime | pd.Timestamp, length: timedelta, tz: str, lateness: timedelta) -> Window:
    """The window a scheduled run monitors: the last one that ended at least ``lateness`` before ``now``
    (an absolute delay: data lands so long after the window closes, also across a DST change)."""
    t = pd.Timestamp(now)
    if t.tzinfo is None:
        raise ValueError("scheduled_window needs a time-zone-aware now")
    return window_ending_at(t - lateness, length, tz)


@dataclass(frozen=True)
class CatchUp:
    windows: tuple[Window, ...]
    """Missed windows to monitor now (the newest ones, up to the limit), oldest first."""
    left: tuple[Window, ...] = ()
    """Older missed windows beyond the limit: not monitored by this run (a backfill can)."""

    def note(self, config_path: str) -> str:
        """What a scheduled run says of them, with the command that monitors the ones left."""
        if not self.windows:
            return ""
        first, last = self.windows[0].start, self.windows[-1].end
        text = f"caught up {len(self.windows)} missed window(s) from {first.isoformat()} to {last.isoformat()}"
        if self.left:
            start, end = self.left[0].start.isoformat(), self.left[-1].end.isoformat()
            text += (
                f"; {len(self.left)} older missed window(s) were left (max_missed_windows): "
                f"run `driftwarden backfill --config {config_path} --start {start} --end {end}`"
            )
        return text


def missed_windows(
    last_ok_end: pd.Timestamp | None,
    done: set[pd.Timestamp],
    target: Window,
    length: timedelta,
    tz: str,
    limit: int,
) -> CatchUp:
    """Windows between the end of the last successful run and ``target`` that have no successful run in
    ``done`` (their starts): the newest ``limit`` of them to monitor, oldest first, and the older ones left.
    No earlier run at all: nothing was missed."""
    if last_ok_end is None or limit <= 0:
        return CatchUp(())
    have = {pd.Timestamp(t).value for t in done}
    gap = [w for w in windows_between(last_ok_end, target.start, length, tz) if w.start.value not in have]
    return CatchUp(tuple(gap[-limit:]) if gap else (), tuple(gap[:-limit]) if len(gap) > limit else ())
