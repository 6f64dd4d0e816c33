"""What every config model shares: the strict base (unknown keys refused, frozen, docstrings as field
descriptions) and durations such as ``6h``. The other config modules import it; it imports none of them."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict

_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """Parse ``30m``, ``6h``, ``1d`` or ``2w`` into a timedelta."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"expected a duration like '6h', '1d' or '2w', got {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


# Every config model: unknown keys are refused (an error names them), values are frozen. No docstring here:
# pydantic would show it as the description of every model that has none of its own.
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
