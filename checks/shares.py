"""Share rules with a memory: unseen categories, nulls and out-of-range values as new, standing or rising.

A share rule (a validation rule that allows some share of rows to break it: ``allowed_share`` > 0) compared
window by window against its tolerance flaps when the true share sits near the tolerance: sampling noise alone
puts every other window on the wrong side. Here each window's share is held to the tolerance with its
sampling uncertainty (a Wilson interval at Z, 99%), and the rule remembers its previous window's state:

- from **clear** (or no earlier window): the share's lower bound above the tolerance -> **new** (breach);
  anything less is **clear** (a point estimate over the tolerance within its noise is no finding);
- from **new, standing, rise or accepted**:
  - the share's upper bound (this window's, or pooled with the window before) below the tolerance (gone; a
    share that fell but is still beyond the tolerance is not) -> **clear**;
  - the share's lower bound above the standing level's upper bound and at least RISE times the level (this
    window alone, or pooled with the window before) -> **rise** (breach), the level starting again from it;
  - right after a rise, or otherwise: **standing** (still a breach, alerted once: no reminders), or
    **accepted** (a note, the status back to ok) while a user's acceptance is in force (also when the issue
    opens again under one).

The standing level is the pooled share of the windows since the issue was first seen (since its last rise).
A standing issue stays a breach in every window until its share is gone or a user accepts it (with a reason
and an expiry): a feed that stays broken never goes quiet on its own, and the status changes once when the
issue opens and once when it clears, never back and forth with the noise. Rules that allow no bad row at
all (ids, probabilities in [0, 1]) fail on any bad row, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from driftwarden.checks.validation import ExpectationOutcome, ValidationResult

ShareState = Literal["clear", "new", "standing", "rise", "accepted"]
Z = 2.576
"""Two-sided 99% Wilson interval: the evidence a share state changes on."""
RISE = 1.5
"""A rise must also be this many times the standing level (a practical size, not only a significant one)."""
ACTIVE: frozenset[str] = frozenset({"new", "standing", "rise", "accepted"})


@dataclass(frozen=True)
class PriorShare:
    """A share rule's state in the window before (from its stored validation row)."""

    state: ShareState
    since: str
    """When the issue was first seen (the window start, ISO)."""
    level_bad: int
    level_rows: int
    """Pooled counts of the standing level."""
    bad: int = 0
    rows: int = 0
    """That window's own counts."""

    @classmethod
    def from_details(cls, details: Mapping[str, Any]) -> PriorShare | None:
        share = details.get("share")
        if not isinstance(share, Mapping) or share.get("state") not in ACTIVE | {"clear"}:
            return None
        return cls(
            share["state"],
            str(share.get("since") or ""),
            int(share.get("level_bad") or 0),
            int(share.get("level_rows") or 0),
            int(share.get("bad") or 0),
            int(share.get("rows") or 0),
        )


@dataclass(frozen=True)
class Acceptance:
    """A user's acceptance of a standing issue (``driftwarden accept``)."""

    rule: str
    """``<column>:<expectation>``, as ``rule_key`` makes it."""
    reason: str
    expires: str
    """ISO time after which the issue is a standing breach again."""
    by: str = ""


def rule_of(column: str | None, expectation: str) -> str:
    """A validation rule's key, ``<column>:<expectation>``: the subject of its data_quality alert condition,
    the key its state is remembered by, what ``driftwarden accept --rule`` names."""
    return f"{column or 'batch'}:{expectation}"


def rule_key(o: ExpectationOutcome) -> str:
    return rule_of(o.column, o.expectation)


def wilson(bad: int, rows: int, z: float = Z) -> tuple[float, float]:
    """Wilson score interval of a share of ``bad`` in ``rows`` (0, 1 with no rows)."""
    if rows <= 0:
        return 0.0, 1.0
    p = bad / rows
    denom = 1 + z * z / rows
    centre = (p + z * z / (2 * rows)) / denom
    half = z * ((p * (1 - p) / rows + z * z / (4 * rows * rows)) ** 0.5) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def decide_share(
    o: ExpectationOutcome, prior: PriorShare | None, accepted: Acceptance | None, window_start: str
) -> ExpectationOutcome:
    """The outcome with its share state, its level and the counts the next window will read."""
    bad, rows, allowed = o.bad, o.considered, o.allowed_share
    lo, hi = wilson(bad, rows)
    active = prior is not None and prior.state in ACTIVE
    state: ShareState
    since, level_bad, level_rows = window_start, bad, rows
    if not active or prior is None:
        state = "new" if rows and lo > allowed else "clear"
        if state == "new" and accepted is not None:  # accepted, its memory lost (a gap): the level starts here
            state = "accepted"
    else:
        level = prior.level_bad / prior.level_rows if prior.level_rows else 0.0
        level_hi = wilson(prior.level_bad, prior.level_rows)[1]
        pooled_lo, pooled_hi = wilson(bad + prior.bad, rows + prior.rows)
        pooled = (bad + prior.bad) / (rows + prior.rows) if rows + prior.rows else 0.0
        rose = prior.state != "rise" and (  # right after a rise the level is that window's: standing
            (lo > level_hi and bad / max(rows, 1) >= RISE * level) or (pooled_lo > level_hi and pooled >= RISE * level)
        )
        if min(hi, pooled_hi) < allowed:  # back within the tolerance with evidence; less is not gone
            state = "clear"
        elif rose:
            state, since = "rise", prior.since  # the level starts again from this window
        else:
            state, since = "standing", prior.since
            level_bad, level_rows = prior.level_bad + bad, prior.level_rows + rows
            if prior.state == "rise":  # the new level: the rise's window and this one
                level_bad, level_rows = prior.bad + bad, prior.rows + rows
            if accepted is not None:
                state = "accepted"
    if state == "clear":
        since, level_bad, level_rows = "", 0, 0
    return replace(o, state=state, since=since, level_bad=level_bad, level_rows=level_rows)


def apply_share_states(
    result: ValidationResult,
    prior: Mapping[str, PriorShare],
    accepted: Mapping[str, Acceptance],
    window_start: str,
) -> ValidationResult:
    """The window's validation with each share rule's state decided against its previous window."""
    outcomes = tuple(
        decide_share(o, prior.get(rule_key(o)), accepted.get(rule_key(o)), window_start) if o.allowed_share > 0 else o
        for o in result.outcomes
    )
    return replace(result, outcomes=outcomes)
