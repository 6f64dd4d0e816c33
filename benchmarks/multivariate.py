"""Does the PCA reconstruction check stay quiet on clean windows, and see a correlation flip no marginal shows?

    .venv/bin/python benchmarks/multivariate.py [--references 40] [--windows 5] [--reference 5000]

Three populations, each with ``--references`` references of ``--reference`` rows (fitted with the defaults of
``fit_pca``) and ``--windows`` fresh windows per reference and cell, so that a cell's rate is over
references too (at n >> N the threshold's margin is mostly the reference's own uncertainty, decided once
per reference):

  normal      a, b standard normal with correlation 0.8, three independent normals, a 4-level categorical
  heavy       a, b as above, two t(3) features, a lognormal(0, 1) one, a categorical with a 1% level
  applicants  the demo's applicants (rounded, skewed amounts, integer counts, three categoricals)

  false alarm  a clean window (same population, fresh rows) judged drifted, at 300 to 100,000 rows
  rho 0.7 ... -0.8  a and b's correlation moved from 0.8 (marginals unchanged): share judged drifted

and the time of ``row_errors`` on a million rows (10 numerical features; 8 numerical and 2 categorical).
Figures, not assertions. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from driftwarden.checks.drift.multivariate import ReconstructionSum, fit_pca, judge
from driftwarden.flows.demo.data import CATEGORICAL as APP_CAT
from driftwarden.flows.demo.data import NUMERICAL as APP_NUM
from driftwarden.flows.demo.data import applicants

CLEAN_SIZES = (300, 1000, 5000, 20_000, 100_000)
FLIP_SIZES = (300, 1000, 5000, 20_000)
FLIPS = (0.7, 0.6, 0.4, 0.0, -0.8)
FEATURES = {
    "normal": (["a", "b", "x0", "x1", "x2"], ["colour"]),
    "heavy": (["a", "b", "t0", "t1", "amount"], ["kind"]),
    "applicants": (APP_NUM, APP_CAT),
}


def population(kind: str, rng: np.random.Generator, n: int, rho: float = 0.8) -> pd.DataFrame:
    if kind == "applicants":
        return applicants(rng, n)
    a = rng.standard_normal(n)
    b = rho * a + np.sqrt(1 - rho * rho) * rng.standard_normal(n)  # standard normal whatever rho
    if kind == "normal":
        cols = {f"x{i}": rng.standard_normal(n) for i in range(3)}
        cols["colour"] = rng.choice(["red", "green", "blue", "grey"], n, p=[0.4, 0.3, 0.2, 0.1])
    else:
        cols = {"t0": rng.standard_t(3, n), "t1": rng.standard_t(3, n), "amount": rng.lognormal(0.0, 1.0, n)}
        cols["kind"] = rng.choice(["p", "q", "r", "s"], n, p=[0.6, 0.3, 0.09, 0.01])
    return pd.DataFrame({"a": a, "b": b, **cols})


def drifted(fit, frame: pd.DataFrame) -> bool:
    acc = ReconstructionSum()
    acc.add(fit, frame)
    return judge(fit, acc).drifted


def timing() -> dict[str, float]:
    rng = np.random.default_rng(3)
    out = {}
    for name, cats in (("10_numerical", 0), ("8_numerical_2_categorical", 2)):
        num = [f"f{i}" for i in range(10 - cats)]
        cat = [f"c{i}" for i in range(cats)]

        def frame(n: int, num=num, cat=cat) -> pd.DataFrame:
            cols = {c: rng.standard_normal(n) for c in num}
            cols.update({c: rng.choice(["a", "b", "c", "d", "e"], n) for c in cat})
            return pd.DataFrame(cols)

        fit = fit_pca(frame(5000), num, cat)
        assert not isinstance(fit, str), fit
        big = frame(1_000_000)
        fit.row_errors(big)  # first touch of the memory
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            fit.row_errors(big)
            runs.append(time.perf_counter() - t)
        out[name] = float(np.median(runs))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--references", type=int, default=40)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--reference", type=int, default=5000)
    args = ap.parse_args()
    rng = np.random.default_rng(11)
    per = args.references * args.windows
    print(f"{args.references} references of {args.reference} rows x {args.windows} windows = {per} windows a cell\n")
    results: dict[str, list[dict]] = {}
    started = time.perf_counter()
    for kind, (num, cat) in FEATURES.items():
        alarms = {n: 0 for n in CLEAN_SIZES}
        seen = {(rho, n): 0 for rho in FLIPS for n in FLIP_SIZES}
        flips = kind != "applicants"
        components = []
        for _ in range(args.references):
            fit = fit_pca(population(kind, rng, args.reference), num, cat, seed=int(rng.integers(1 << 31)))
            assert not isinstance(fit, str), fit
            components.append(fit.components)
            for _ in range(args.windows):
                for n in CLEAN_SIZES:
                    alarms[n] += drifted(fit, population(kind, rng, n))
                for rho in FLIPS if flips else ():
                    for n in FLIP_SIZES:
                        seen[rho, n] += drifted(fit, population(kind, rng, n, rho))
        rows = []
        for n in CLEAN_SIZES:
            row: dict = {"rows": n, "false_alarm": alarms[n] / per}
            if flips and n in FLIP_SIZES:
                row.update({f"rho_{rho:g}": seen[rho, n] / per for rho in FLIPS})
            rows.append(row)
        results[kind] = rows
        print(f"{kind} (components {min(components)}-{max(components)})")
        print(f"{'rows':>8} {'false alarm':>12}" + "".join(f" {'rho ' + format(r, 'g'):>9}" for r in FLIPS))
        for row in rows:
            flipped = "".join(f" {row[f'rho_{r:g}']:>9.1%}" if f"rho_{r:g}" in row else f" {'':>9}" for r in FLIPS)
            print(f"{row['rows']:>8} {row['false_alarm']:>12.1%}{flipped}", flush=True)
        print()
    seconds = timing()
    print("row_errors on 1,000,000 rows: " + ", ".join(f"{k} {v:.3f} s" for k, v in seconds.items()))
    print(f"(benchmark ran {time.perf_counter() - started:.0f} s)")
    summary = {
        "references": args.references,
        "reference_rows": args.reference,
        "windows_per_cell": per,
        "results": results,
        "row_errors_1m_seconds": seconds,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
