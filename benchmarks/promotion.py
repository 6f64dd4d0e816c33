"""How often is a challenger promoted that is no better than the champion, and how often is a real gain?

    .venv/bin/python benchmarks/promotion.py [--seeds 2000] [--quick]

The old rule decided on the retrain's holdout alone: the most recent mature window, which is usually the breached
window that started the retrain, so the champion's score there is low by selection. The new rule
(``retrain.promotion.shadow_windows`` >= 1) is decided on the windows after it, whose rows and labels did not
choose the retrain. Both are judged by driftwarden's own ``compare_models``.

Setup (binary, one KPI: accuracy; class prior 30% positive, labels "0"/"1"; the demo's config otherwise):

* The champion's true accuracy is 0.80 in every window, the challenger's 0.80 (equal: a promotion is false) or
  0.83 (a real 3-point gain: power). The target is 0.82: a small, steady shortfall, so the retrain policy fires
  at equal accuracy (nothing would start a retrain otherwise) and the champion does not change after it. Then
  0.80, the champion exactly on target: retrains start on noise alone, so the holdout is selected hardest.
* A row is right for a model when sqrt(rho) z + sqrt(1 - rho) e < Phi^-1(accuracy), with z the row's difficulty
  shared by both models and e each model's own noise (rho 0.8): the models agree on ~86% of rows (printed).
  Predictions are the label or the other class; P(positive) is a confidence drawn in [0.51, 0.99] on the side
  of the prediction, so probabilities and predictions agree at the 0.5 threshold.
* Windows of n rows (500, 2,000), all labelled and mature, are drawn until the retrain policy fires, judged by
  the project's rule: ``checks.kpis._judge`` (Wilson 95% interval of ``checks.kpis.wilson`` wholly below the
  target, or the point estimate below it ``consecutive`` = 3 windows in a row) per window, and a retrain on
  ``retrain.consecutive`` = 2 breached windows in a row with ``min_labelled_rows`` = 1,000 (the defaults).
* The holdout is the last breached window; the shadow window is the next one (fresh rows, same true accuracies).
  The baseline is ``baseline_scores`` on the judged rows' own labels (as the shadow decision does).

Rules, each at margin 0 and 0.01 (p_value 0.05): old = ``compare_models`` on the holdout promotes (what
``shadow_windows: 0`` does); new = the rule as built: ``checks.shadow.screen_on_holdout`` (the holdout only vetoes
a challenger that does not lead the champion there) and then ``compare_models`` on the shadow rows, whole windows
until ``promotion.shadow_min_rows``. Then, for windows of 500, the new rule and the shadow's test alone (without
the veto) for shadows of 500 to 4,000 rows.
Rates are over seeds whose stream fired a retrain within 200 windows, with 95% Wilson intervals.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm

from driftwarden.checks.champion import Comparison, compare_models
from driftwarden.checks.kpis import _judge, wilson
from driftwarden.checks.shadow import screen_on_holdout
from driftwarden.checks.training import Scored, baseline_scores
from driftwarden.config.loader import load_model_config
from driftwarden.config.model import KpiConfig, ModelConfig
from driftwarden.config.retrain import PromotionConfig, RetrainConfig

ROOT = Path(__file__).resolve().parents[1]
TARGETS = (0.82, 0.80)
CHAMPION = 0.80
GAIN = 0.03
RHO = 0.8
POSITIVE_SHARE = 0.3
MARGINS = (0.0, 0.01)
SHADOW_ROWS = (500, 1000, 2000, 3000, 4000)
SHADOW_MIN_ROWS = PromotionConfig().shadow_min_rows
MAX_WINDOWS = 200


def config(margin: float, target: float) -> ModelConfig:
    """The demo's model config with accuracy as its one KPI and the promotion judged on it at ``margin``."""
    base = load_model_config(ROOT / "config" / "credit_risk.yaml")
    kpi = KpiConfig(metric="accuracy", target=target, min_labelled=200)
    # The project's retrain defaults otherwise (consecutive 2, min_labelled_rows 1,000, p_value 0.05).
    retrain = RetrainConfig(promotion=PromotionConfig(metric="accuracy", margin=margin))
    return base.model_copy(update={"kpis": [kpi], "objectives": [], "retrain": retrain})


def window(rng: np.random.Generator, n: int, challenger: float) -> tuple[np.ndarray, Scored, Scored]:
    """Labels and both models' outputs on n rows, their correctness tied by a shared difficulty."""
    y = np.where(rng.uniform(size=n) < POSITIVE_SHARE, "1", "0").astype(object)
    z = rng.standard_normal(n)
    out = []
    for acc in (CHAMPION, challenger):
        right = np.sqrt(RHO) * z + np.sqrt(1 - RHO) * rng.standard_normal(n) < norm.ppf(acc)
        pred = np.where(right, y, np.where(y == "1", "0", "1")).astype(object)
        conf = rng.uniform(0.51, 0.99, n)
        out.append(Scored(pred, np.where(pred == "1", conf, 1 - conf), ("0", "1")))
    return y, out[0], out[1]


def stream(rng: np.random.Generator, cfg: ModelConfig, n: int, challenger: float) -> tuple[Any, ...] | None:
    """Windows until the retrain policy fires; the last breached one (the holdout), or None if it never does."""
    kpi, rt = cfg.kpis[0], cfg.retrain
    history: list[bool] = []
    streak: list[int] = []
    for _ in range(MAX_WINDOWS):
        y, champ, chal = window(rng, n, challenger)
        k = int((champ.prediction == y).sum())
        lo, hi = wilson(k, n)
        level, _ = _judge(kpi, k / n, lo, hi, True, history)
        history.append(k / n < kpi.target)
        streak = streak + [n] if level == "breach" else []
        if len(streak) >= rt.consecutive and sum(streak) >= rt.min_labelled_rows:
            return y, chal, champ
    return None


def judged(cfg: ModelConfig, y: np.ndarray, chal: Scored, champ: Scored) -> Comparison:
    return compare_models(cfg, y, chal, champ, baseline_scores(cfg, y, len(y)))


def share(k: int, n: int) -> dict[str, float | int]:
    lo, hi = wilson(k, n)
    return {"rate": round(k / n, 4) if n else 0.0, "lo": round(lo, 4), "hi": round(hi, 4), "n": n}


def cell(cfgs: dict[float, ModelConfig], n: int, gain: float, seeds: int, seed0: int) -> dict[str, Any]:
    """One window size and true gain: promotions by rule and margin, and the shadow-size sweep."""
    shadow_n = -(-SHADOW_MIN_ROWS // n) * n  # whole windows until shadow_min_rows, as the flow takes them
    counts = {(r, m): 0 for r in ("old", "new") for m in MARGINS}
    sizes = SHADOW_ROWS if n == 500 else ()
    sweep = {(k, m): 0 for k in sizes for m in MARGINS}
    alone = {(k, m): 0 for k in sizes for m in MARGINS}  # the shadow's test without the holdout's veto before it
    fired = agree = rows = 0
    for s in range(seeds):
        rng = np.random.default_rng([seed0, int(cfgs[0.0].kpis[0].target * 100), n, int(gain * 1000), s])
        got = stream(rng, cfgs[0.0], n, CHAMPION + gain)
        if got is None:
            continue
        fired += 1
        y, chal, champ = got
        agree += int((chal.prediction == champ.prediction).sum())
        rows += n
        ys, champ_s, chal_s = window(rng, shadow_n, CHAMPION + gain)
        for m in MARGINS:
            on_holdout = judged(cfgs[m], y, chal, champ)
            counts["old", m] += on_holdout.promote
            # the rule as built: the holdout vetoes a challenger that does not lead there, the shadow decides
            if screen_on_holdout(on_holdout).promote:
                counts["new", m] += judged(cfgs[m], ys, chal_s, champ_s).promote
        for k in sizes:  # fresh rows for each size: each is its own experiment
            yk, champ_k, chal_k = window(rng, k, CHAMPION + gain)
            for m in MARGINS:
                passed = judged(cfgs[m], yk, chal_k, champ_k).promote
                alone[k, m] += passed
                sweep[k, m] += passed and screen_on_holdout(judged(cfgs[m], y, chal, champ)).promote
    out: dict[str, Any] = {
        "seeds": seeds,
        "fired": fired,
        "shadow_rows": shadow_n,
        "agreement": round(agree / rows, 4) if rows else None,
        **{f"{r}@{m}": share(counts[r, m], fired) for r in ("old", "new") for m in MARGINS},
    }
    for m in MARGINS:
        if sizes:
            out[f"shadow_rows@{m}"] = {str(k): share(sweep[k, m], fired) for k in sizes}
            out[f"shadow_alone@{m}"] = {str(k): share(alone[k, m], fired) for k in sizes}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2000, help="streams per window size and gain")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 40 streams, windows of 500 only")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    seeds, sizes, targets = (40, (500,), TARGETS[:1]) if args.quick else (args.seeds, (500, 2000), TARGETS)
    t0 = time.perf_counter()
    res: dict[str, Any] = {}
    for target in targets:
        cfgs = {m: config(m, target) for m in MARGINS}
        res[str(target)] = {
            str(n): {"equal": cell(cfgs, n, 0.0, seeds, args.seed), "gain": cell(cfgs, n, GAIN, seeds, args.seed)}
            for n in sizes
        }
    elapsed = time.perf_counter() - t0

    def ci(d: dict[str, Any]) -> str:
        return f"{100 * d['rate']:5.1f}% [{100 * d['lo']:4.1f}, {100 * d['hi']:4.1f}]"

    print(
        f"champion accuracy {CHAMPION}, challenger {CHAMPION} (equal) or {CHAMPION + GAIN:.2f} (+3 points); "
        f"rho {RHO}; p_value 0.05; {seeds} streams per cell; rates with 95% Wilson intervals"
    )
    for target in targets:
        for n in sizes:
            eq, gn = res[str(target)][str(n)]["equal"], res[str(target)][str(n)]["gain"]
            print(
                f"\naccuracy target {target}, windows of {n} rows: retrain fired in {eq['fired']}/{seeds} (equal) "
                f"and {gn['fired']}/{seeds} (gain) streams; the models agree on {100 * eq['agreement']:.1f}% / "
                f"{100 * gn['agreement']:.1f}% of holdout rows"
            )
            print(f"  {'rule':<40} {'margin':>6}  {'false promotion (equal)':<24} {'power (+3 points)':<24}")
            for r, what in (
                ("old", "old: holdout only"),
                ("new", f"new: holdout veto, shadow {eq['shadow_rows']:,} rows"),
            ):
                for m in MARGINS:
                    key = f"{r}@{m}"
                    print(f"  {what:<40} {m:>6}  {ci(eq[key]):<24} {ci(gn[key]):<24}")
            for m in MARGINS:
                for key, what in ((f"shadow_rows@{m}", "new rule"), (f"shadow_alone@{m}", "shadow test alone")):
                    for k in eq.get(key, {}):
                        label = f"{what}, shadow of {int(k):,} rows"
                        print(f"  {label:<40} {m:>6}  {ci(eq[key][k]):<24} {ci(gn[key][k]):<24}")
    print(f"\n{elapsed:.0f} s")
    summary = {
        "setup": {
            "targets": list(targets),
            "champion": CHAMPION,
            "gain": GAIN,
            "rho": RHO,
            "positive_share": POSITIVE_SHARE,
            "seeds": seeds,
        },
        "results": res,
        "seconds": round(elapsed, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
