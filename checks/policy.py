"""The retrain decision: do the stored windows say the model should be retrained now? (pure)

A KPI breach counts only on mature windows (labels in); the newest windows are often still immature and
neither extend nor break a streak. Windows that ended before the last retraining are ignored: their breach
has been answered already. Input drift alone triggers only where the policy allows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from driftwarden.config.retrain import RetrainConfig

Cause = Literal["concept_change", "input_drift", "undetermined", "manual"]


@dataclass(frozen=True)
class WindowState:
    """What the store knows of one monitored window."""

    start: datetime
    end: datetime
    causes: tuple[str, ...]
    mature: bool
    breached: tuple[str, ...]
    """KPI metrics in breach on this window (mature windows only)."""
    labelled: int
    dataset_drift: bool | None = None
    """Whether the dataset drift rule itself was met (None: as its causes say). A KPI breach with features
    drifted below the rule has cause input_drift too, but is no drift "alone" for ``on_drift``."""


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    reason: str
    """In plain words, with the figures: why retraining starts, or why not."""
    cause: Cause | None = None
    since: datetime | None = None
    """Start of the first window of the breach streak (the detected change), if any."""
    windows: tuple[datetime, ...] = ()
    """Starts of the breached windows that count."""


def decide_retrain(
    windows: Sequence[WindowState],
    policy: RetrainConfig,
    kpi_names: Sequence[str],
    now: datetime,
    last_retrain: datetime | None,
) -> RetrainDecision:
    """Oldest-first ``windows`` -> whether to retrain. ``last_retrain`` is the time of the last attempt."""
    counted = set(policy.kpis or kpi_names)
    fresh = [w for w in windows if last_retrain is None or w.end > last_retrain]
    streak, _ = _streak(fresh, counted)
    cooldown = _duration(policy.cooldown)
    if last_retrain is not None and now - last_retrain < cooldown:
        return RetrainDecision(
            False, f"in cooldown until {(last_retrain + cooldown).isoformat(timespec='minutes')} (last retrain)"
        )
    if len(streak) >= policy.consecutive:
        labelled = sum(w.labelled for w in streak)
        kpis = sorted(counted & {m for w in streak for m in w.breached})
        if labelled < policy.min_labelled_rows:
            return RetrainDecision(
                False,
                f"{', '.join(kpis)} breached on {len(streak)} mature windows, but only {labelled} labelled rows "
                f"< min_labelled_rows {policy.min_labelled_rows}",
            )
        broken = sorted({c for w in streak for c in w.causes} & {"data_quality", "volume"})
        if broken:  # a model trained on a broken feed learns the breakage, and is judged on it too
            return RetrainDecision(
                False,
                f"{', '.join(kpis)} breached on {len(streak)} mature windows, but with {' and '.join(broken)} "
                "problems in them: fix the feed first (retraining on it would learn the breakage)",
            )
        drifted = any("input_drift" in w.causes for w in streak)
        # A concept change is trained on the rows since the change; a streak where drift could not be ruled out
        # (undetermined) is not one: it trains as after input drift (the last windows and the reference).
        unknown = any("undetermined" in w.causes for w in streak)
        cause: Cause = "input_drift" if drifted else "undetermined" if unknown else "concept_change"
        return RetrainDecision(
            True,
            f"{', '.join(kpis)} breached on {len(streak)} consecutive mature windows since "
            f"{streak[0].start.isoformat(timespec='minutes')} ({labelled} labelled rows; "
            f"{'with input drift' if drifted else 'drift not ruled out' if unknown else 'without input drift'})",
            cause,
            streak[0].start,
            tuple(w.start for w in streak),
        )
    newest = fresh[-1] if fresh else None
    drift_alone = newest is not None and (
        newest.dataset_drift if newest.dataset_drift is not None else "input_drift" in newest.causes
    )
    if policy.on_drift and drift_alone and newest is not None:
        return RetrainDecision(
            True, f"input drift on {newest.start.isoformat(timespec='minutes')} (retrain.on_drift)", "input_drift"
        )
    if streak:
        return RetrainDecision(
            False, f"KPI breached on {len(streak)} of {policy.consecutive} consecutive mature windows needed"
        )
    return RetrainDecision(False, "no counted KPI breach on the latest mature window")


def _streak(fresh: Sequence[WindowState], counted: set[str]) -> tuple[list[WindowState], bool]:
    """The newest run of consecutive mature breached windows (immature ones neither extend nor break it), and
    whether it may go on before the oldest window given (nothing broke it)."""
    streak: list[WindowState] = []
    after: datetime | None = None
    for w in reversed(fresh):
        if after is not None and w.end < after:  # a window with no run between: the streak is broken
            return streak[::-1], False
        after = w.start
        if not w.mature:
            continue
        if counted & set(w.breached):
            streak.append(w)
        else:
            return streak[::-1], False
    return streak[::-1], True


def needs_older_windows(windows: Sequence[WindowState], policy: RetrainConfig, kpi_names: Sequence[str]) -> bool:
    """Whether ``decide_retrain`` could decide otherwise given windows older than these newest ones: only when
    the breach streak runs back to the oldest of them (a caller reads the tail of a long history, not all)."""
    return _streak(windows, set(policy.kpis or kpi_names))[1]


def _duration(text: str) -> timedelta:
    from driftwarden.config.common import parse_duration

    return parse_duration(text)
