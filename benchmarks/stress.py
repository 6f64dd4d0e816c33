"""How long do the stress tests take on a 5,000-row holdout?

    .venv/bin/python benchmarks/stress.py [--rows 5000] [--repeats 3]

The demo's credit-risk model and config (6 numeric and 3 categorical features; accuracy, ROC AUC and cost as
KPIs): a champion trained on the old concept and a challenger on the new one (scikit-learn pipelines of
a HistGradientBoostingClassifier, 150 trees, as the demo's), the holdout ``--rows`` applicants of the new
concept. The default suite: 7 perturbations x 4 strengths (0.05, 0.1, 0.2, 0.5), every KPI per cell, the
permutation importance for ``shift``, the 50 worst rows per model; once with the champion and the challenger
side by side and one declared gate (``missing`` at 0.1, the paired test), once with one model. Figures are the
wall time of ``run_suite`` (the scoring included), medians over ``--repeats``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from driftwarden.checks.stress import run_suite
    from driftwarden.config.loader import load_model_config
    from driftwarden.flows.demo.data import applicants, default_probability, train_model

    raw = yaml.safe_load((REPO / "config" / "credit_risk.yaml").read_text())
    with tempfile.TemporaryDirectory() as folder:
        plain, gated = Path(folder) / "plain.yaml", Path(folder) / "gated.yaml"
        plain.write_text(yaml.safe_dump(raw))
        raw["retrain"].setdefault("stress", {})["gates"] = [{"perturbation": "missing", "strength": 0.1}]
        gated.write_text(yaml.safe_dump(raw))
        cfg, gated_cfg = load_model_config(plain), load_model_config(gated)
    rng = np.random.default_rng(0)
    champion = train_model(rng)
    x_new = applicants(rng, 20_000)
    y_new = (rng.uniform(size=len(x_new)) < default_probability(x_new, "new")).astype(int)
    from sklearn.base import clone

    challenger = clone(champion).fit(x_new[list(cfg.columns.features)], y_new)
    holdout = applicants(rng, args.rows)
    holdout["defaulted"] = (rng.uniform(size=args.rows) < default_probability(holdout, "new")).astype(int)
    holdout["application_id"] = [f"H{i:05d}" for i in range(args.rows)]

    def timed(c, models) -> tuple[float, object]:
        t0 = time.perf_counter()
        result = run_suite(c, models, holdout)
        return time.perf_counter() - t0, result

    pair, single = [], []
    result = None
    for _ in range(args.repeats):
        seconds, result = timed(gated_cfg, {"champion": champion, "challenger": challenger})
        pair.append(seconds)
        single.append(timed(cfg, {"champion": champion})[0])
    assert result is not None
    record = result.record()  # type: ignore[attr-defined]
    from driftwarden.checks.stress import robustness_table

    header, rows = robustness_table(record)
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(row))
    for gate in record["gates"]:
        print(gate["reason"])
    figures = {
        "rows": args.rows,
        "cells": len(record["table"]),
        "kpis": record["kpis"],
        "champion_and_challenger_s": round(statistics.median(pair), 2),
        "one_model_s": round(statistics.median(single), 2),
        "repeats": args.repeats,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
