"""Drift per segment: how often does it cry wolf, how small a shift in one segment value does it see, and what
does it add to a run's scan?

    .venv/bin/python benchmarks/segment_drift.py [--seeds 200] [--rows 2500] [--timing 2500,1000000]

Generated data: five standard normal features x1..x5 and a segment column ``region`` with four equally frequent
values; each seed draws a fresh reference of ``--reference`` rows and a window of ``--rows`` rows (default
settings: below ``large_sample`` = 1,000 rows per value, KS with Holm across the 4 values x 5 features at 0.05;
from it on, normed Wasserstein against 0.1 raised to its noise floor).

  false alarm   a window with no change where any segment value x feature is flagged
  detected at k x1 shifted by k reference sd in the rows of region=north: the share of windows where that
                cell is flagged
  others at k   the share of those windows where any other cell is flagged (the same false alarm, beside a
                real change)

Timing: the scan of an idle window (no change) in chunks of 500,000 rows as a run does it (GX validation, the
sketches, the drift decision; no estimated KPIs or joint drift, so the share is of the scan alone), with and
without ``segments: [region]``, the median of ``--repeats`` runs in this process after a warm-up. The last
line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from driftwarden.checks.drift import decide_drift
from driftwarden.checks.drift.segments import decide_segment_drift, segment_sketches
from driftwarden.checks.profile import ProfileBuilder, ReferenceProfile, build_profile
from driftwarden.checks.scan import WindowScan
from driftwarden.config.model import DriftConfig, ModelConfig

FEATURES = ["x1", "x2", "x3", "x4", "x5"]
REGIONS = ["north", "south", "east", "west"]
SHIFTS = (0.1, 0.2, 0.3, 0.5)
DAY = pd.Timestamp("2026-03-02", tz="UTC")
CHUNK = 500_000


def frame(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    out = pd.DataFrame({f: rng.normal(0, 1, n) for f in FEATURES})
    out["region"] = rng.choice(REGIONS, n)
    out.loc[out["region"] == "north", "x1"] += shift
    return out


def flagged(profile: ReferenceProfile, cur: pd.DataFrame, cfg: DriftConfig) -> tuple[bool, bool, bool]:
    """(any cell flagged, north x1 flagged, any other cell flagged)."""
    sketches = segment_sketches(profile, ["region"], FEATURES)
    sketches["region"].add(cur, "region")
    found = decide_segment_drift(sketches, profile, cfg, ["region"])
    target = any(c.drifted for c in found.cells if c.segment == "region=north" and c.column == "x1")
    other = any(c.drifted for c in found.cells if not (c.segment == "region=north" and c.column == "x1"))
    return target or other, target, other


def rates(seeds: int, reference: int, rows: int) -> dict[str, object]:
    cfg = DriftConfig()
    alarms = 0
    seen = dict.fromkeys(SHIFTS, 0)
    others = dict.fromkeys(SHIFTS, 0)
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        profile = build_profile(
            frame(reference, rng), FEATURES, [], segments=["region"], segment_features=FEATURES, segment_values=20
        )
        alarms += flagged(profile, frame(rows, rng), cfg)[0]
        for k in SHIFTS:
            _, hit, other = flagged(profile, frame(rows, rng, k), cfg)
            seen[k] += hit
            others[k] += other
    return {
        "rows": rows,
        "seeds": seeds,
        "false_alarm": alarms / seeds,
        "detected": {str(k): seen[k] / seeds for k in SHIFTS},
        "others_flagged": {str(k): others[k] / seeds for k in SHIFTS},
    }


def config(segments: list[str]) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "name": "bench",
            "task": "binary",
            "sources": {"predictions": {"path": "p.parquet"}, "reference": {"path": "r.parquet"}},
            "columns": {
                "timestamp": "ts", "id": "id", "numerical": FEATURES, "categorical": ["region"],
                "prediction": "pred", "probability": "p", "target": "y",
            },
            "kpis": [{"metric": "accuracy", "target": 0.5}],
            "segments": segments,
        }
    )  # fmt: skip


def window(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = frame(n, rng)
    out["ts"] = DAY + pd.to_timedelta(np.sort(rng.uniform(0, 86_399, n)), unit="s")
    out["id"] = np.char.add("r", np.arange(n).astype(str)).astype(object)
    out["p"] = rng.uniform(size=n)
    out["pred"] = (out["p"] >= 0.5).astype(int)
    out["y"] = (rng.uniform(size=n) < out["p"]).astype(int)
    return out


def reference_profile(cfg: ModelConfig, ref: pd.DataFrame) -> tuple[ReferenceProfile, float]:
    started = time.perf_counter()
    builder = ProfileBuilder(
        [*FEATURES, "p"], ["region", "pred", "y"], segments=cfg.segments, segment_features=FEATURES + ["region"],
        segment_values=cfg.drift.segment_values,
    )  # fmt: skip
    builder.add(ref)
    return builder.finish(), time.perf_counter() - started


def scan_once(cfg: ModelConfig, profile: ReferenceProfile, cur: pd.DataFrame) -> tuple[float, float]:
    """Wall-clock and CPU seconds (the sketches run in threads beside GX's validation: the CPU time shows the
    work the wall clock hides on an idle machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    scan = WindowScan(cfg, profile, DAY, DAY + pd.Timedelta(days=1), None)
    for start in range(0, len(cur), CHUNK):
        scan.add(cur.iloc[start : start + CHUNK].reset_index(drop=True))
    result = scan.finish()
    jobs = [(name, role, sketch) for name, (role, sketch) in result.sketches.items()]
    decide_drift(jobs, profile, cfg.drift)
    if cfg.segments:
        decide_segment_drift(result.segments, profile, cfg.drift, cfg.segments)
    return time.perf_counter() - started, time.process_time() - cpu


def timing(sizes: list[int], repeats: int) -> list[dict[str, object]]:
    ref = window(100_000, seed=1)
    plain, segmented = config([]), config(["region"])
    profiles = {name: reference_profile(c, ref) for name, c in (("plain", plain), ("segments", segmented))}
    out = []
    for n in sizes:
        cur = window(n, seed=2)
        scan_once(plain, profiles["plain"][0], cur)  # warm-up: GX's suite, imports
        scan_once(segmented, profiles["segments"][0], cur)
        plain_s, seg_s = [], []
        for _ in range(repeats):  # interleaved, so that the machine's load falls on both alike
            plain_s.append(scan_once(plain, profiles["plain"][0], cur))
            seg_s.append(scan_once(segmented, profiles["segments"][0], cur))
        (a, a_cpu), (b, b_cpu) = np.median(plain_s, axis=0), np.median(seg_s, axis=0)
        out.append(
            {"rows": n, "without_s": a, "with_s": b, "extra": b / a - 1, "without_cpu_s": a_cpu, "with_cpu_s": b_cpu,
             "extra_cpu": b_cpu / a_cpu - 1}
        )  # fmt: skip
    out.append(
        {"reference_profile_100k_s": {name: round(p[1], 3) for name, p in profiles.items()}}  # once per version
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--rows", default="2500")
    parser.add_argument("--timing", default="2500,1000000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    figures: dict[str, object] = {"rates": [], "timing": []}
    for rows in [int(x) for x in args.rows.split(",") if x]:
        r = rates(args.seeds, args.reference, rows)
        figures["rates"].append(r)  # type: ignore[attr-defined]
        detected = "  ".join(f"{k} sd: {v:.1%}" for k, v in r["detected"].items())  # type: ignore[attr-defined]
        others = "  ".join(f"{k} sd: {v:.1%}" for k, v in r["others_flagged"].items())  # type: ignore[attr-defined]
        print(f"window {rows:,} rows ({rows // 4:,} a segment value), {args.seeds} seeds")
        print(f"  false alarm (any of 20 cells, no change): {r['false_alarm']:.1%}")
        print(f"  detected (region=north x1):               {detected}")
        print(f"  other cells flagged beside it:            {others}")
    sizes = [int(x) for x in args.timing.split(",") if x]
    if sizes:
        figures["timing"] = timing(sizes, args.repeats)
        print(f"{'rows':>10} {'without segments':>17} {'with segments':>14} {'extra':>7}   CPU: without, with, extra")
        for t in figures["timing"]:  # type: ignore[attr-defined]
            if "rows" in t:
                print(
                    f"{t['rows']:>10,} {t['without_s']:>16.3f}s {t['with_s']:>13.3f}s {t['extra']:>+7.1%}   "
                    f"{t['without_cpu_s']:.3f}s, {t['with_cpu_s']:.3f}s, {t['extra_cpu']:+.1%}"
                )
            else:
                print(f"reference profile of 100,000 rows: {t}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
