"""How small a window can drift be judged on, and when does "no drift" rule a drift out?

    .venv/bin/python benchmarks/drift_power.py [--draws 300] [--sizes 50,100,200,300,500,1000,2500,5000]

The demo's applicants (six numeric and three categorical features, skewed amounts, integer counts) against a
reference profile of ``--reference`` rows drawn from the same population, with the default drift settings
(below ``large_sample`` rows KS and chi-square with Holm at 0.05 across the features; from it on normed
Wasserstein and Jensen-Shannon at 0.1). For each window size, over ``--draws`` windows each:

  false alarm      a clean window (same population) with at least one feature drifted
  ruled out        a clean window where every feature's drift bound is below its threshold (what
                   ``concept_change`` needs; else a KPI breach there is ``undetermined``)
  seen at kx       ``income`` shifted by k times the Wasserstein threshold (k * 0.1 reference std), and
                   ``region``'s shares moved to a Jensen-Shannon distance of k * 0.1: the share of windows
                   where that feature is flagged drifted
  missed-but-ruled-out  the share of windows with the 1x shift where income was *ruled out* (false reassurance;
                   the bound's design says at most 5%)

Figures, not assertions: the README's statistical defaults quote them. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.spatial import distance

from driftwarden.checks.drift import detect_drift
from driftwarden.checks.profile import build_profile
from driftwarden.config.model import DriftConfig
from driftwarden.flows.demo.data import REGION, applicants

NUMERIC = ["age", "income", "loan_amount", "debt_to_income", "credit_history_years", "open_accounts"]
CATEGORICAL = ["employment_type", "region", "purpose"]


def region_shares(k: float) -> np.ndarray:
    """Region's shares moved along one direction (weight to the first region) to a JS distance of k * 0.1."""
    p = np.asarray(REGION[1], dtype=float)
    target = np.zeros_like(p)
    target[0] = 1.0

    def js(t: float) -> float:
        return float(distance.jensenshannon(p, (1 - t) * p + t * target)) - 0.1 * k

    t = brentq(js, 0.0, 1.0)
    return (1 - t) * p + t * target


def window(rng: np.random.Generator, n: int, k: float) -> pd.DataFrame:
    frame = applicants(rng, n)
    if k:
        std = float(np.std(applicants(np.random.default_rng(99), 200_000)["income"]))
        frame["income"] = frame["income"] + k * 0.1 * std
        frame["region"] = rng.choice(REGION[0], n, p=region_shares(k))
    return frame


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--reference", type=int, default=5000)
    ap.add_argument("--sizes", default="50,100,200,300,500,1000,2500,5000")
    ap.add_argument("--min-rows", type=int, default=50)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    profile = build_profile(applicants(rng, args.reference), NUMERIC, CATEGORICAL)
    cfg = DriftConfig(min_rows=args.min_rows)
    features = NUMERIC + CATEGORICAL
    out = []
    print(f"reference {args.reference} rows; {args.draws} windows a cell; defaults of DriftConfig\n")
    print(
        f"{'rows':>6} {'false alarm':>12} {'ruled out':>10} {'seen 1x':>8} {'seen 2x':>8} {'seen 3x':>8} "
        f"{'cat 1x':>7} {'cat 2x':>7} {'1x ruled out':>13}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        alarms = ruled = 0
        seen = {1: 0, 2: 0, 3: 0}
        cat = {1: 0, 2: 0}
        reassured = 0
        for _ in range(args.draws):
            clean = detect_drift(window(rng, n, 0), profile, cfg, features)
            alarms += bool(clean.drifted_features)
            ruled += clean.ruled_out
            for k in (1, 2, 3):
                shifted = detect_drift(window(rng, n, k), profile, cfg, features)
                seen[k] += bool(shifted.get("income").drifted)
                if k in cat:
                    cat[k] += bool(shifted.get("region").drifted)
                if k == 1:
                    reassured += shifted.get("income").ruled_out
        d = args.draws
        row = {
            "rows": n,
            "false_alarm": alarms / d,
            "ruled_out": ruled / d,
            **{f"seen_{k}x": v / d for k, v in seen.items()},
            **{f"cat_seen_{k}x": v / d for k, v in cat.items()},
            "shift_1x_ruled_out": reassured / d,
        }
        out.append(row)
        print(
            f"{n:>6} {row['false_alarm']:>12.1%} {row['ruled_out']:>10.1%} {row['seen_1x']:>8.1%} "
            f"{row['seen_2x']:>8.1%} {row['seen_3x']:>8.1%} {row['cat_seen_1x']:>7.1%} {row['cat_seen_2x']:>7.1%} "
            f"{row['shift_1x_ruled_out']:>13.1%}",
            flush=True,
        )
    print(json.dumps({"reference_rows": args.reference, "draws": args.draws, "sizes": out}))


if __name__ == "__main__":
    main()
