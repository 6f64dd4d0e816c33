"""What every config model shares: the strict base (unknown keys refused, frozen, finite numbers, docstrings as
field descriptions), durations such as ``6h`` and cron schedules. The other config modules import it; it imports
none of them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DURATION = timedelta(days=36500)
"""No age, horizon or interval of a config is longer than a century (and timestamps stay within pandas' range)."""
CRON_HORIZON_YEARS = 8
"""A schedule must fire within this many years: every weekday falls on every date within 7 years (29 February
within 28 would not do: such a schedule is taken for one that never fires)."""


def parse_duration(text: str) -> timedelta:
    """Parse ``30m``, ``6h``, ``1d`` or ``2w`` into a timedelta."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"expected a duration like '6h', '1d' or '2w', got {str(text)[:200]!r}")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(
            f"a duration of at most {MAX_DURATION.days}d (100 years), got {match.group(0).strip()[:200]!r}"
        )
    return timedelta(seconds=seconds)


def check_cron(value: str) -> str:
    """A cron expression that fires, the next time within ``CRON_HORIZON_YEARS`` (30 February never does)."""
    from cronsim import CronSim, CronSimError

    start = datetime(2026, 1, 1)
    try:
        first = next(CronSim(value, start), None)
    except CronSimError as exc:
        raise ValueError(f"not a cron expression: {exc}") from None
    if first is None or first.year - start.year >= CRON_HORIZON_YEARS:
        raise ValueError(f"the schedule {value[:200]!r} never fires (not once in {CRON_HORIZON_YEARS} years)")
    return value


# Every config model: unknown keys are refused (an error names them), values are frozen, numbers are finite (a NaN
# or inf threshold would silently compare false everywhere). No docstring here: pydantic would show it as the
# description of every model that has none of its own.
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False)
