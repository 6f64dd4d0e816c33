"""Do failure samples help a retrained model? The same retrain with and without them, scored on later windows.

    .venv/bin/python benchmarks/failure_samples.py [--seeds 20] [--river DIR] [--later 10] [--quick]

For each world and seed, the retrain driftwarden would run after a concept change is replayed with its own
functions: the windows are monitored nightly as their labels arrive (a window is re-run when its labels grow,
as the label catch-up does), each run logs its failure samples (``checks.failures.select_failures`` on the
window's labelled rows as known then; the log keeps each (row, reason) once, as the store does), and the
retrain starts at the first nightly run at which ``retrain.consecutive`` windows since the change are mature.
``checks.training.plan_training`` then builds the training set (cause ``concept_change``, rows since the
change, the holdout the most recent mature window) twice: with ``retrain.training.failure_weight`` 2.0 (the
default) and with 0 (no failure samples). Both are trained with the configured estimator (``fit_default``) and
scored with ``checks.champion.metric_value`` on the same later windows (after the retrain's night, new concept
only), which neither saw. The champion's figures on those rows are shown for scale.

Worlds:
  demo      ``flows/demo/data.py``'s month, with ``--later`` more nights of its new concept (seed 7 is the
            demo's own month), its packaged config (accuracy, AUC, cost in EUR a row; 2,500 rows a night,
            labels 1-4 days late)
  agrawal   ``tests/data``: function 0 -> 2 at row 10,000, predictions of a model fitted on rows 0-4,999
  sea       ``DIR/sea_abrupt_drift_at_10000.csv`` if ``--river DIR`` holds it (the shared river material):
            variant 0 -> 3 at row 10,000
  friedman  ``tests/data``: regression, the 'gra' drift in rows 10,000-14,999 (it reverts at 15,000: later
            windows stop there), MAE and RMSE
A river stream is one fixed draw; a seed reorders its rows within each concept (the generators draw rows
independently, so every order is an equally likely stream) and draws the label delays (1-2 days). Days of
1,000 rows (Friedman: 500, so that its 5,000 drifted rows give later windows).

Prints, per world and KPI: the mean with and without failure samples, the champion's, the mean difference
(with - without) with a paired 95% t interval over seeds, and how many seeds favour each side. The last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from driftwarden.checks.champion import metric_value
from driftwarden.checks.failures import select_failures
from driftwarden.checks.metrics import get_metric
from driftwarden.checks.training import (
    WEIGHT,
    Scored,
    features_frame,
    fit_default,
    plan_training,
    score_rows,
    scored_frame,
    target_values,
)
from driftwarden.config.model import ModelConfig
from driftwarden.flows.demo import data as demo

TESTS_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
DAY = pd.Timedelta(days=1)
STREAM_START = pd.Timestamp("2026-03-02", tz="UTC")
LABEL_DELAY_DAYS = (1.0, 2.0)
WEIGHTS = {"with": 2.0, "without": 0.0}
DIAGNOSTICS = ("recall", "precision")
"""Binary worlds: not KPIs of their configs, shown to tell a better ranking from more positive predictions."""


@dataclass(frozen=True)
class World:
    """One seed's stream as the monitor sees it: every prediction with its label and when the label arrives."""

    cfg: ModelConfig
    rows: pd.DataFrame
    """Features, the champion's prediction (and probability), target, id, timestamp, ``labelled_at``."""
    starts: pd.DatetimeIndex
    """Window starts (UTC), oldest first; window i ends at ``starts[i + 1]``."""
    change: int
    """Index of the first window of the new concept."""
    concept_end: int
    """Index of the first window after the new concept (later windows stop before it)."""


def window_index(times: pd.Series, starts: pd.DatetimeIndex) -> np.ndarray:
    return starts.searchsorted(pd.DatetimeIndex(times).tz_convert("UTC"), side="right") - 1


# --- the demo's world ----------------------------------------------------------------------------------------


def demo_config() -> ModelConfig:
    text = resources.files("driftwarden.config").joinpath("credit_risk.yaml").read_text()
    return ModelConfig.model_validate(yaml.safe_load(text))


def demo_world(seed: int, later: int, rows: int, champion_rows: int) -> World:
    """The demo's month (the same draws as ``demo.generate``, so seed 7 is the demo's own), scored by its
    champion v1 as batch scoring does, and ``later`` nights of the new concept after the retrain's night."""
    cfg = demo_config()
    c = cfg.columns
    tz = cfg.window.timezone
    rng = np.random.default_rng(seed)
    model = demo.train_model(rng, champion_rows)
    demo.applicants(rng, 5000)  # the reference's draws, as generate() makes them
    rng.uniform(size=5000)
    nights = demo.NIGHTS + later
    frames = []
    for night in range(1, nights + 1):
        applicants, labels = demo.night_batch(night, rng, tz, rows)
        frames.append(scored_frame(cfg, model, applicants).merge(labels, on=c.id))
    local = pd.DatetimeIndex([(demo.START + DAY * k).tz_localize(tz) for k in range(nights + 1)])
    return World(cfg, pd.concat(frames, ignore_index=True), local.tz_convert("UTC"), demo.CONCEPT_FROM - 1, nights)


# --- the river streams ---------------------------------------------------------------------------------------


def _river_config(name: str, task: str, numerical: list[str], categorical: list[str], kpis: list[dict]) -> ModelConfig:
    probability = {"probability": "y_pred_proba", "positive_label": 1} if task == "binary" else {}
    return ModelConfig.model_validate(
        {
            "name": name,
            "task": task,
            "sources": {
                "predictions": {"path": "predictions.csv"},
                "labels": {"path": "labels.csv"},
                "reference": {"path": "reference.csv"},
            },
            "columns": {
                "timestamp": "timestamp",
                "id": "row",
                "numerical": numerical,
                "categorical": categorical,
                "prediction": "y_pred",
                "target": "y",
                **probability,
            },
            "window": {"length": "1d", "timezone": "UTC"},
            "label_horizon": "3d",
            "kpis": kpis,
        }  # fmt: skip
    )


@dataclass(frozen=True)
class Stream:
    file: str
    cfg: ModelConfig
    change: int
    """Row of the change."""
    concept_end: int | None
    """Row where the new concept ends (Friedman reverts), None: the stream's end."""
    per_day: int


def streams(river: Path | None) -> dict[str, Stream]:
    binary_kpis = [{"metric": "accuracy", "target": 0.9}, {"metric": "roc_auc", "target": 0.9}]
    agrawal = _river_config(
        "agrawal", "binary", ["salary", "commission", "age", "hvalue", "hyears", "loan"], ["elevel", "car", "zipcode"],
        binary_kpis,
    )  # fmt: skip
    sea = _river_config("sea", "binary", ["0", "1", "2"], [], binary_kpis)
    friedman = _river_config(
        "friedman", "regression", [f"x{i}" for i in range(10)], [],
        [{"metric": "mae", "target": 2.0}, {"metric": "rmse", "target": 3.0}],
    )  # fmt: skip
    out = {"agrawal": Stream(str(TESTS_DATA / "agrawal_abrupt_drift_at_10000.csv.gz"), agrawal, 10_000, None, 1000)}
    if river is not None and (river / "sea_abrupt_drift_at_10000.csv").exists():
        out["sea"] = Stream(str(river / "sea_abrupt_drift_at_10000.csv"), sea, 10_000, None, 1000)
    friedman_file = TESTS_DATA / "friedman_gra_drift_at_10000_15000.csv.gz"
    out["friedman"] = Stream(str(friedman_file), friedman, 10_000, 15_000, 500)
    return out


def stream_world(stream: Stream, raw: pd.DataFrame, seed: int) -> World:
    rng = np.random.default_rng(seed)
    cuts = [0, stream.change, stream.concept_end or len(raw), len(raw)]
    order = np.concatenate([rng.permutation(np.arange(a, b)) for a, b in zip(cuts, cuts[1:], strict=False)])
    rows = raw.iloc[order].reset_index(drop=True)
    rows["row"] = rows["row"].astype(str)
    at = np.arange(len(rows)) / stream.per_day  # days since the start, evenly spaced within a day
    rows["timestamp"] = STREAM_START + pd.to_timedelta(at, unit="D")
    rows["labelled_at"] = rows["timestamp"] + pd.to_timedelta(rng.uniform(*LABEL_DELAY_DAYS, len(rows)), unit="D")
    days = -(-len(rows) // stream.per_day)
    starts = pd.DatetimeIndex([STREAM_START + DAY * k for k in range(days + 1)])
    end = stream.concept_end or len(raw)
    return World(stream.cfg, rows, starts, stream.change // stream.per_day, -(-end // stream.per_day))


# --- the retrain, replayed -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    kpis: dict[str, dict[str, float | None]]
    """Model (``with``, ``without``, ``champion``) -> KPI -> value on the later windows."""
    train_rows: int
    failure_samples: int
    later_rows: int
    trigger: int
    """Index of the window whose nightly run started the retrain."""


def failure_log(world: World, window: np.ndarray, upto: int) -> pd.DataFrame:
    """The failure samples the nightly runs of windows ``change..upto`` logged by the end of window ``upto``,
    as the retrain reads them back (features, target, id, the start of the window they were logged in).
    Wrong predictions only: the windows after these changes pass validation, so no rows of failed checks."""
    cfg, c = world.cfg, world.cfg.columns
    logged: dict[tuple[str, str], dict[str, Any]] = {}
    for w in range(world.change, upto + 1):
        in_w = world.rows[window == w]
        known_before = -1
        for run in range(w, upto + 1):  # the window's own run, then a re-run each night its labels grew
            known = in_w[in_w["labelled_at"] <= world.starts[run + 1]]
            if len(known) == known_before:
                continue
            known_before = len(known)
            for s in select_failures(None, known, cfg):
                if s.label is not None:
                    logged.setdefault((s.row_id, s.reason), {**s.features, c.target: s.label, c.id: s.row_id,
                                                             c.timestamp: world.starts[w]})  # fmt: skip
    frame = pd.DataFrame(list(logged.values()), columns=[*c.features, c.target, c.id, c.timestamp])
    return frame.drop_duplicates(c.id).reset_index(drop=True)


def trigger_run(world: World, window: np.ndarray) -> tuple[int, list[pd.Timestamp]]:
    """The first nightly run (the index of the window it ends) at which ``consecutive`` windows since the change
    are mature, and the mature windows it sees (label coverage >= ``label_maturity``)."""
    cfg = world.cfg
    counts = np.bincount(window, minlength=len(world.starts))
    arrived = world.rows["labelled_at"].to_numpy()
    for run in range(world.change, len(world.starts) - 1):
        known = np.bincount(window[arrived <= world.starts[run + 1]], minlength=len(world.starts))
        mature = [w for w in range(run + 1) if counts[w] and known[w] / counts[w] >= cfg.label_maturity]
        needed = range(world.change, world.change + cfg.retrain.consecutive)
        if all(w in mature for w in needed):
            return run, [world.starts[w] for w in mature]
    raise RuntimeError(f"{cfg.name}: the windows after the change never mature")


def trial(world: World) -> Trial:
    cfg, c = world.cfg, world.cfg.columns
    window = window_index(world.rows[c.timestamp], world.starts)
    run, mature = trigger_run(world, window)
    as_of = world.starts[run + 1]
    failures = failure_log(world, window, run)
    seen = ((window <= run) & (world.rows["labelled_at"] <= as_of)).to_numpy()
    labelled = world.rows[seen].reset_index(drop=True)
    window_of = pd.Series(world.starts[window[seen]], index=labelled.index)
    later = world.rows[(window > run) & (window < world.concept_end)]
    x_later, y_later = features_frame(cfg, later), target_values(cfg, later)
    outputs: dict[str, Scored] = {}
    plans = {}
    for side, weight in WEIGHTS.items():
        side_cfg = cfg.model_copy(
            update={"retrain": cfg.retrain.model_copy(
                update={"training": cfg.retrain.training.model_copy(update={"failure_weight": weight})})}
        )  # fmt: skip
        plan = plan_training(
            side_cfg, labelled, window_of, mature, "concept_change", world.starts[world.change], None, failures
        )
        model = fit_default(cfg, features_frame(cfg, plan.train), target_values(cfg, plan.train),
                            plan.train[WEIGHT].to_numpy(dtype=float))  # fmt: skip
        outputs[side] = score_rows(cfg, model, x_later)
        plans[side] = plan
    if set(plans["with"].train[c.id]) != set(plans["without"].train[c.id]):
        raise AssertionError("the two plans must train on the same rows, only weighted differently")
    champion = Scored(
        later[c.prediction].to_numpy(dtype=float)
        if cfg.task == "regression"
        else target_values(cfg, later.assign(**{c.target: later[c.prediction]})),
        later[c.probability].to_numpy(dtype=float) if c.probability else None,
    )
    outputs["champion"] = champion
    kpis = [k.metric for k in cfg.kpis] + (list(DIAGNOSTICS) if cfg.task == "binary" else [])
    return Trial(
        {side: {m: metric_value(cfg, m, y_later, s) for m in kpis} for side, s in outputs.items()},
        len(plans["with"].train),
        plans["with"].failures_added,
        len(later),
        run,
    )


# --- the figures ---------------------------------------------------------------------------------------------


def summarise(trials: list[Trial]) -> dict[str, Any]:
    kpis: dict[str, Any] = {}
    diagnostics: dict[str, Any] = {}
    for m in trials[0].kpis["with"]:
        higher = get_metric(m).direction == "higher_is_better"
        pairs = [(t.kpis["with"][m], t.kpis["without"][m], t.kpis["champion"][m]) for t in trials]
        pairs = [p for p in pairs if p[0] is not None and p[1] is not None]
        d = np.array([w - wo for w, wo, _ in pairs], dtype=float)
        n = len(d)
        half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        better = d if higher else -d
        champ = [ch for _, _, ch in pairs if ch is not None]
        (diagnostics if m in DIAGNOSTICS else kpis)[m] = {
            "direction": "higher_is_better" if higher else "lower_is_better",
            "with": float(np.mean([w for w, _, _ in pairs])),
            "without": float(np.mean([wo for _, wo, _ in pairs])),
            "champion": float(np.mean(champ)) if champ else None,
            "difference": float(d.mean()),
            "ci95": [float(d.mean() - half), float(d.mean() + half)],
            "favour_with": int((better > 0).sum()),
            "favour_without": int((better < 0).sum()),
            "ties": int((better == 0).sum()),
            "seeds": n,
        }
    return {
        "seeds": len(trials),
        "train_rows": float(np.mean([t.train_rows for t in trials])),
        "failure_samples": float(np.mean([t.failure_samples for t in trials])),
        "later_rows": float(np.mean([t.later_rows for t in trials])),
        "trigger_windows": sorted({t.trigger + 1 for t in trials}),
        "kpis": kpis,
        "diagnostics": diagnostics,
    }


def report(name: str, s: dict[str, Any]) -> None:
    print(
        f"\n{name}: {s['seeds']} seeds; {s['train_rows']:,.0f} training rows, {s['failure_samples']:,.0f} of them "
        f"failure samples (weight 2), {s['later_rows']:,.0f} later rows scored (means over seeds); the retrain "
        f"starts after window {', '.join(map(str, s['trigger_windows']))} (1 = the first)"
    )
    print(
        f"  {'KPI':<9}{'with':>9}{'without':>9}{'champion':>10}{'with - without [95% CI]':>36}"
        f"{'seeds with/without/tie':>25}"
    )
    for m, k in [*s["kpis"].items(), *s["diagnostics"].items()]:
        champ = "" if k["champion"] is None else f"{k['champion']:.4f}"
        diff = f"{k['difference']:+.4f} [{k['ci95'][0]:+.4f}, {k['ci95'][1]:+.4f}]"
        print(
            f"  {m:<9}{k['with']:>9.4f}{k['without']:>9.4f}{champ:>10}{diff:>36}"
            f"{k['favour_with']:>13} / {k['favour_without']} / {k['ties']}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20, help="seeds per world (at least 2)")
    ap.add_argument("--river", type=Path, default=None, help="folder of the shared river streams (SEA)")
    ap.add_argument(
        "--later",
        type=int,
        default=10,
        help="demo: nights of the new concept after the month (every night after the retrain's is scored)",
    )
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 seeds, a small demo, no SEA")
    args = ap.parse_args()
    seeds = 2 if args.quick else max(2, args.seeds)
    from threadpoolctl import threadpool_limits

    began = time.perf_counter()
    worlds: dict[str, Callable[[int], World]] = {}
    if args.quick:  # a small month: 1,200 rows a night still trains on more than the config's 1,000
        worlds["demo"] = lambda seed: demo_world(seed, 3, 1200, 3000)
    else:
        worlds["demo"] = lambda seed: demo_world(seed, args.later, demo.ROWS_PER_NIGHT, 20_000)
    for name, stream in streams(None if args.quick else args.river).items():
        raw = pd.read_csv(stream.file)
        worlds[name] = lambda seed, stream=stream, raw=raw: stream_world(stream, raw, seed)
    results: dict[str, Any] = {}
    with threadpool_limits(1):  # one core, as the figures say
        for name, make in worlds.items():
            first = 7 if name == "demo" else 0
            trials = [trial(make(seed)) for seed in range(first, first + seeds)]
            results[name] = summarise(trials)
            report(name, results[name])
    seconds = time.perf_counter() - began
    print(f"\n{seconds:.0f} s")
    print(json.dumps({"seeds": seeds, "failure_weight": WEIGHTS["with"], "seconds": round(seconds, 1),
                      "datasets": results}))  # fmt: skip


if __name__ == "__main__":
    main()
