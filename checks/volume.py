"""Row-count check: a dead or thin feed is a ``volume`` breach, not a crash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from driftwarden.config.model import VolumeConfig


@dataclass(frozen=True)
class VolumeResult:
    rows: int
    floor: int
    recent_median: float | None
    breached: bool
    note: str


def check_volume(rows: int, recent_rows: Sequence[int], cfg: VolumeConfig) -> VolumeResult:
    """Breach below ``min_rows``, or below ``min_share_of_recent`` of the recent windows' median."""
    recent = [r for r in recent_rows[-cfg.recent_windows :] if r > 0]
    med = float(median(recent)) if recent else None
    floor = cfg.min_rows
    if med is not None:
        floor = max(floor, int(cfg.min_share_of_recent * med))
    if rows == 0:
        return VolumeResult(rows, floor, med, True, "no rows at all in the window: is the feed dead?")
    if rows < floor:
        why = f"{rows} row{'' if rows == 1 else 's'}, below the floor of {floor}"
        if med is not None:
            why += f" (recent windows: median {med:.0f} rows)"
        return VolumeResult(rows, floor, med, True, why)
    return VolumeResult(rows, floor, med, False, f"{rows} rows")
