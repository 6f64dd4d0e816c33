"""Which windows judge a pending challenger, and whether they are ready (pure).

A retrain's holdout is the most recent mature window, usually one whose breach started the retrain: the
champion's score there is low by selection, so a challenger judged there alone is promoted too often. The
windows after the holdout were not mature when the retrain decided (else they would have been held out), so
neither their rows nor their labels chose the champion's low score or trained the challenger: the promotion is
decided there, once their labels have matured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from driftwarden.checks.champion import Comparison


@dataclass(frozen=True)
class ShadowWindow:
    start: datetime
    end: datetime
    rows: int
    """Predictions the champion made in the window."""
    labelled: int
    """Of them, with a label known as of the deciding run."""
    mature: bool
    """Label coverage at ``label_maturity``, or the label horizon has passed (no more labels will come)."""


@dataclass(frozen=True)
class ShadowPlan:
    state: Literal["ready", "waiting", "expired"]
    windows: tuple[ShadowWindow, ...]
    """The windows that judge (ready) or will judge (waiting) the challenger."""
    labelled: int
    reason: str
    """In plain words: what is awaited, or why it expired."""


def shadow_deadline(holdout_end: datetime, windows: int, length: timedelta, horizon: timedelta) -> datetime:
    """After this, a challenger still waiting expires: three times the windows it needs plus twice the label
    horizon (a feed that went quiet must not leave a candidate pending for ever, and block retraining)."""
    return holdout_end + windows * length * 3 + 2 * horizon


def shadow_plan(
    windows: Sequence[ShadowWindow], wanted: int, min_rows: int, as_of: datetime, deadline: datetime
) -> ShadowPlan:
    """The first ``wanted`` windows with predictions after the holdout, and more while fewer than ``min_rows``
    of their rows are labelled; ready when every one of them is mature and the rows suffice."""
    taken: list[ShadowWindow] = []
    labelled = 0
    for w in sorted((w for w in windows if w.rows > 0), key=lambda w: w.start):
        if len(taken) >= wanted and labelled >= min_rows:
            break
        taken.append(w)
        labelled += w.labelled
    immature = [w for w in taken if not w.mature]
    if len(taken) >= wanted and labelled >= min_rows and not immature:
        return ShadowPlan("ready", tuple(taken), labelled, f"{len(taken)} window(s), {labelled:,} labelled rows")
    if len(taken) < wanted:
        need = f"{wanted - len(taken)} more window(s) with predictions after the holdout"
    elif immature:
        need = f"the labels of {len(immature)} window(s) from {immature[0].start:%Y-%m-%d %H:%M} to mature"
    else:
        need = f"{min_rows - labelled:,} more labelled rows (retrain.promotion.shadow_min_rows {min_rows})"
    if as_of >= deadline:
        return ShadowPlan("expired", tuple(taken), labelled, f"still waiting at {deadline:%Y-%m-%d %H:%M} for {need}")
    return ShadowPlan("waiting", tuple(taken), labelled, f"waiting for {need}")


def screen_on_holdout(comparison: Comparison) -> Comparison:
    """With shadow windows the retrain's holdout only vetoes: a challenger that does not even lead the champion
    there, where the champion's score is low by selection, will not be better after it. Asking it to prove its
    gain there as well would make a real gain pass two tests (a 3-point gain on 500-row windows: 12% instead of
    the shadow test's own power); the proof is asked on the shadow windows."""
    if comparison.promote or comparison.difference is None or comparison.difference <= 0:
        return comparison
    scores = comparison.scores
    ch = scores["challenger"].get(comparison.metric)
    champ = (scores.get("champion") or {}).get(comparison.metric)
    lead = (
        f"on the retrain's holdout the challenger leads the champion on {comparison.metric} ({ch:.4f} vs {champ:.4f}); "
        "that window's breach chose the retrain, so the promotion is decided on the windows after it"
    )
    return replace(comparison, promote=True, reasons=(lead, *comparison.reasons))
