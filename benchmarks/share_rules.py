"""Do share rules flap, and how fast do they see a share double? The old rule beside the new one, in one run.

    .venv/bin/python benchmarks/share_rules.py [--streams 200]

Streams of 21 windows of binomial counts (a category absent from the reference, nulls, values out of range:
the rules differ only in their tolerance) at a true share of k x the tolerance in every window, for shares
0.5-3%, window sizes 500-50,000 rows and k in 0.8, 1.0, 1.2, 1.5, 2.0. A stream's status flips are counted
over its windows 2-21 (the first window may open the issue: that change is the event, not a flip).

  point rule  the share against the tolerance in each window alone (what validation did before)
  states      ``checks.shares``: new / standing / rise / accepted with 99% Wilson intervals

Then the share doubles after 8 windows at 2 x a tolerance (a standing issue): the share of streams with a
breach event (new or rise, each alerted) within 2 windows of it, and false rises before it.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from driftwarden.checks.shares import PriorShare, decide_share
from driftwarden.checks.validation import ExpectationOutcome

KIND = "expect_column_values_to_be_in_set"


def run_states(counts: list[int], rows: int, allowed: float) -> list[tuple[bool, str]]:
    """(breached, state) per window: a share rule's status is breach unless its state is clear or accepted."""
    prior: PriorShare | None = None
    out = []
    for i, bad in enumerate(counts):
        o = ExpectationOutcome(KIND, "c", bad / rows <= allowed, bad / rows, allowed, "c known", bad, rows)
        o = decide_share(o, prior, None, f"w{i:03d}")
        prior = PriorShare(o.state or "clear", o.since, o.level_bad, o.level_rows, o.bad, o.considered)  # type: ignore[arg-type]
        out.append((not o.passed, o.state or ""))
    return out


def flips(flags: list[bool]) -> int:
    return sum(a != b for a, b in zip(flags, flags[1:], strict=False))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(11)
    sizes, tolerances, ks = [500, 2500, 10_000, 50_000], [0.005, 0.01, 0.03], [0.8, 1.0, 1.2, 1.5, 2.0]
    figures: list[dict[str, object]] = []
    print(f"status flips in windows 2-21, mean (max) over {args.streams} streams; point rule | states\n")
    print(f"{'rows':>7} {'tolerance':>9} " + " ".join(f"{f'{k}x':>17}" for k in ks))
    for rows in sizes:
        for tol in tolerances:
            cells = []
            for k in ks:
                point, states = [], []
                for _ in range(args.streams):
                    counts = [int(c) for c in rng.binomial(rows, min(k * tol, 1.0), 21)]
                    point.append(flips([c / rows > tol for c in counts][1:]))
                    states.append(flips([b for b, _ in run_states(counts, rows, tol)][1:]))
                figures.append({"rows": rows, "tolerance": tol, "k": k, "point_mean": float(np.mean(point)),
                                "point_max": int(max(point)), "states_mean": float(np.mean(states)),
                                "states_max": int(max(states))})  # fmt: skip
                cells.append(f"{np.mean(point):4.1f}({max(point):2d})|{np.mean(states):3.2f}({max(states)})")
            print(f"{rows:>7} {tol:>9.3f} " + " ".join(f"{c:>17}" for c in cells), flush=True)
    print("\na standing share (2x the tolerance) doubling after 8 windows: breach event within 2 windows; false rises")
    doubling = []
    for rows in sizes:
        for share in (0.005, 0.01, 0.03):
            hit = false = 0
            for _ in range(args.streams):
                counts = [int(c) for c in rng.binomial(rows, share, 8)] + [
                    int(c) for c in rng.binomial(rows, 2 * share, 4)
                ]
                st = [s for _, s in run_states(counts, rows, share / 2)]
                hit += any(s in ("new", "rise") for s in st[8:10])
                false += sum(s == "rise" for s in st[:8])
            doubling.append({"rows": rows, "share": share, "detected": hit / args.streams,
                             "false_rise_per_window": false / (8 * args.streams)})  # fmt: skip
            print(
                f"  {rows:>6} rows, {share:.1%} -> {2 * share:.1%}: detected {hit / args.streams:6.1%}, "
                f"false rises {false / (8 * args.streams):.2%} of windows",
                flush=True,
            )
    print(json.dumps({"streams": args.streams, "flips": figures, "doubling": doubling}))


if __name__ == "__main__":
    main()
