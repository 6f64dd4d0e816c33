"""Share rules that don't flap: a standing issue holds its state, a rise over its level breaches, a broken
feed never goes quiet on its own, an acceptance silences it until it expires. Streams of windows generated
with a known share (binomial counts), across shares, window sizes and tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from driftwarden.checks.shares import Acceptance, PriorShare, apply_share_states, decide_share, wilson
from driftwarden.checks.validation import ExpectationOutcome, ValidationResult
from driftwarden.checks.verdict import decide_verdict, input_findings
from driftwarden.checks.volume import VolumeResult

KIND = "expect_column_values_to_be_in_set"


def outcome(bad: int, rows: int, allowed: float) -> ExpectationOutcome:
    share = bad / rows
    rule = "c in the 3 known categories"
    return ExpectationOutcome(KIND, "c", share <= allowed, share, allowed, rule, bad, rows)


def prior_of(o: ExpectationOutcome) -> PriorShare:
    return PriorShare(o.state or "clear", o.since, o.level_bad, o.level_rows, o.bad, o.considered)  # type: ignore[arg-type]


def stream(
    shares: list[float], rows: int, allowed: float, seed: int, accept_from: int | None = None
) -> list[tuple[str, str | None]]:
    """(window status, share state) of a stream of windows whose true share is ``shares[i]`` (validation
    alone), each window's state decided against the one before, as the monitoring run does."""
    rng = np.random.default_rng(seed)
    prior: PriorShare | None = None
    out = []
    for i, share in enumerate(shares):
        accepted = (
            Acceptance("c:" + KIND, "known", "2099-01-01") if accept_from is not None and i >= accept_from else None
        )
        o = decide_share(outcome(int(rng.binomial(rows, share)), rows, allowed), prior, accepted, f"w{i:03d}")
        prior = prior_of(o)
        result = ValidationResult(o.success, (o,), ())
        verdict = decide_verdict(input_findings(VolumeResult(rows, 0, None, False, ""), result, None))
        out.append((verdict.status, o.state))
    return out


def statuses(shares: list[float], rows: int, allowed: float, seed: int, accept_from: int | None = None) -> list[str]:
    return [status for status, _ in stream(shares, rows, allowed, seed, accept_from)]


def flips(s: list[str]) -> int:
    return sum(a != b for a, b in zip(s, s[1:], strict=False))


SIZES = [500, 2500, 10_000, 50_000]
TOLERANCES = [0.005, 0.01, 0.03]


@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("tolerance", TOLERANCES)
def test_a_share_standing_at_its_tolerance_does_not_flap(rows, tolerance):
    """A category absent from the reference, present at about the tolerance (0.8-1.5x) in every window:
    at most one status change in 20 windows once it is there (measured over 30 streams each; the old rule, a
    point estimate against the tolerance, changed the status in about half the windows at 1x)."""
    worst = 0
    for seed in range(30):
        for k in (0.8, 1.0, 1.2, 1.5):
            s = statuses([k * tolerance] * 21, rows, tolerance, seed)
            worst = max(worst, flips(s[1:]))  # the first window may open the issue: that is the real event
    assert worst <= 1


def test_the_old_point_rule_flapped_on_the_same_stream():
    """The reproduction: held to the tolerance by its point estimate, the same stream flips ~10 times in 20."""
    rng = np.random.default_rng(0)
    point = ["breach" if rng.binomial(2500, 0.01) / 2500 > 0.01 else "ok" for _ in range(21)]
    assert flips(point) >= 6


@pytest.mark.parametrize("tolerance", [0.5, 1.0])
@pytest.mark.parametrize(("rows", "share"), [(2500, 0.02), (10_000, 0.01), (50_000, 0.005), (500, 0.06)])
def test_a_doubling_of_a_standing_share_breaches_within_two_windows(rows, share, tolerance):
    """At ``share`` for 8 windows (standing beyond a tolerance of half of it, or at about the tolerance, where
    it may never open), then doubled: a new issue or a rise over the standing level (each alerted) within 2
    windows in >= 95% of 40 streams; a rise before it (a false alarm) in at most 1% of the 320 windows."""
    hits = false = 0
    for seed in range(40):
        s = stream([share] * 8 + [2 * share] * 4, rows, share * tolerance, seed)
        false += sum(state == "rise" for _, state in s[:8])
        hits += any(state in ("new", "rise") for _, state in s[8:10])
    assert hits >= 38 and false <= 3


def test_a_broken_feed_that_stays_broken_never_goes_quiet_and_clears_when_fixed():
    s = statuses([0.4] * 10 + [0.0] * 3, 2500, 0.01, 1)
    assert s[:10] == ["breach"] * 10 and s[10:] == ["ok"] * 3


def test_an_accepted_standing_issue_is_a_note_and_a_rise_over_it_still_breaches():
    s = statuses([0.02] * 6 + [0.06] * 2, 2500, 0.01, 2, accept_from=3)
    assert s[:3] == ["breach"] * 3 and s[3:6] == ["ok"] * 3 and s[6] == "breach", s


def test_share_states_round_trip_through_the_stored_details():
    from driftwarden.checks.records import input_metric_rows

    first = apply_share_states(ValidationResult(False, (outcome(100, 2500, 0.01),), ()), {}, {}, "2026-10-01")
    row = next(
        r for r in input_metric_rows(VolumeResult(2500, 0, None, False, ""), first, None) if r["kind"] == "validation"
    )
    assert row["passed"] is False and row["details"]["share"]["state"] == "new"
    again = PriorShare.from_details(row["details"])
    assert again == PriorShare("new", "2026-10-01", 100, 2500, 100, 2500)


def test_wilson_interval_covers_its_share():
    rng = np.random.default_rng(3)
    for n, p in ((100, 0.01), (2500, 0.02), (50_000, 0.005)):
        inside = sum(lo <= p <= hi for lo, hi in (wilson(int(rng.binomial(n, p)), n) for _ in range(400)))
        assert inside >= 0.97 * 400


def test_a_share_that_falls_but_stays_beyond_its_tolerance_is_not_gone():
    """5% then 3% against 1% allowed is still broken; a spike's rise does not make the next window clear."""
    rng_free = [(2500, 125), (2500, 75), (2500, 75)]
    prior = None
    states = []
    for rows, bad in rng_free:
        o = decide_share(outcome(bad, rows, 0.01), prior, None, "w")
        prior, states = prior_of(o), [*states, o.state]
    assert states == ["new", "standing", "standing"]
    prior, states = None, []
    for bad in (50, 50, 250, 50):
        o = decide_share(outcome(bad, 2500, 0.01), prior, None, "w")
        prior, states = prior_of(o), [*states, o.state]
    assert states == ["new", "standing", "rise", "standing"]


def test_an_accepted_rule_that_opens_again_after_a_gap_stays_accepted():
    accepted = Acceptance("c:" + KIND, "known", "2099-01-01")
    assert decide_share(outcome(60, 2500, 0.01), None, accepted, "w").state == "accepted"
