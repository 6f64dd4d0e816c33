"""How fast is a nightly run, how much memory does it take, and does it agree with the full-data verdicts?

    .venv/bin/python benchmarks/nightly.py --rows 1000000 --features 20 [--no-naive] [--seeds 5]

For each seed it writes a reference and a current batch as Parquet (by row groups of 250k rows, never
holding more) with drift injected into the first quarter of the features (a mean shift of 0.25 sd: normed
Wasserstein ~0.25, 2.5x the threshold), then runs each path in a fresh subprocess, so that its peak memory
is its own:
  setup    the first run of the model: computes and stores the reference profile (once per reference
           version; ``profile_s``);
  project  the nightly run in a fresh process, the profile stored, Prefect's server up: the monitor-model
           flow end to end (read in chunks -> validate -> drift -> KPIs -> failure log -> store -> report)
           once the libraries are imported, as the naive path's clock starts after its imports (``run_s``,
           and the process's ``peak_rss_mb``); the same with the imports of GX, Evidently, scipy and
           scikit-learn on the clock, as a process worker pays them every night (``process_s``); and a
           second run in the same process (``warm_s``);
  off      the project path again without the estimated KPIs (CBPE) and the multivariate drift (PCA), in a
           fresh process of its own: their cost together is ``run_s`` minus this (``estimation_s``;
           ``estimation_warm_s`` for the second run in the process), and each apart through a run with the
           multivariate drift alone (``estimates_alone_s``, ``multivariate_alone_s``);
  naive    Evidently's DataDriftPreset + a row-level GX suite on the full batch (first seed only);
  full     the project's statistics and thresholds on the full data, no sampling or sketching, one
           column at a time (the reference verdicts).
It prints a table and, as its last line, one JSON object with the figures (medians over the seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

DAY = pd.Timestamp("2026-01-10", tz="UTC")
SHIFT_SD = 0.25


def features(n: int) -> list[str]:
    return [f"f{i:02d}" for i in range(n)]


def injected(n: int) -> list[str]:
    return features(n)[: max(1, n // 4)]


def write_frame(path: Path, rows: int, n_features: int, seed: int, shifted: bool, with_time: bool) -> None:
    """Written by row groups of 250k rows so generation never holds more than one group in memory."""
    rng = np.random.default_rng(seed)
    writer = None
    done = 0
    while done < rows:
        n = min(250_000, rows - done)
        cols = {}
        if with_time:
            secs = (
                np.sort(rng.uniform(0, 86_400, n))
                if rows == n
                else np.linspace(done * 86_400 / rows, (done + n) * 86_400 / rows, n, endpoint=False)
            )
            cols["ts"] = DAY + pd.to_timedelta(secs, unit="s")
            cols["id"] = np.arange(done, done + n)
        x = rng.normal(size=(n, n_features))
        if shifted:
            x[:, : len(injected(n_features))] += SHIFT_SD
        for i, name in enumerate(features(n_features)):
            cols[name] = x[:, i]
        logit = x[:, :3].sum(axis=1)
        p = 1 / (1 + np.exp(-logit))
        cols["proba"] = p
        cols["pred"] = (p >= 0.5).astype(int)
        cols["y"] = (rng.uniform(size=n) < p).astype(int)
        table = pa.Table.from_pandas(pd.DataFrame(cols), preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        done += n
    writer.close()


def write_case(folder: Path, rows: int, n_features: int, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_frame(folder / "reference.parquet", rows, n_features, 10_000 + seed, False, False)
    write_frame(folder / "current.parquet", rows, n_features, seed, True, True)
    config = {
        "name": f"bench_{seed}",
        "task": "binary",
        "sources": {"predictions": {"path": "current.parquet"}, "reference": {"path": "reference.parquet"}},
        "columns": {
            "timestamp": "ts",
            "id": "id",
            "numerical": features(n_features),
            "prediction": "pred",
            "probability": "proba",
            "target": "y",
        },
        "window": {"length": "1d", "timezone": "UTC"},
        "label_horizon": "1d",
        "kpis": [{"metric": "accuracy", "target": 0.6}, {"metric": "roc_auc", "target": 0.7}],
    }
    path = folder / "model.yaml"
    path.write_text(yaml.safe_dump(config))
    # the same model without the estimated KPIs and the multivariate drift: what the two cost
    off = {**config, "estimation": {"enabled": False}, "drift": {"multivariate": False}}
    (folder / "model_off.yaml").write_text(yaml.safe_dump(off))
    (folder / "model_no_estimates.yaml").write_text(yaml.safe_dump({**config, "estimation": {"enabled": False}}))
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the three paths, each run in its own subprocess ------------------------------------------------------


def _prefect_up(config: Path) -> None:
    """This process's Prefect API (the ephemeral server) started (its home comes from ``run_child``)."""
    from driftwarden.config.settings import prepare_environment

    prepare_environment(quiet=True)
    from prefect import flow

    flow(name="server-up")(lambda: None)()


def path_setup(config: Path) -> dict:
    _prefect_up(config)
    from driftwarden.flows.deploy.embedded import embedded_runs
    from driftwarden.flows.monitor.flow import monitor_model

    t0 = time.perf_counter()
    with embedded_runs():
        monitor_model(str(config), window_end="2026-01-02")  # an empty window: the profile is computed and stored
    return {"profile_s": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


def _import_dependencies() -> None:
    """What the naive path imports before its clock starts: the libraries, not driftwarden's own work."""
    import evidently.presets  # noqa: F401
    import great_expectations  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.metrics  # noqa: F401


def path_project(config: Path) -> dict:
    _prefect_up(config)
    started = time.perf_counter()
    _import_dependencies()
    t0 = time.perf_counter()
    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store
    from driftwarden.flows.deploy.embedded import embedded_runs
    from driftwarden.flows.monitor.flow import monitor_model

    with embedded_runs():
        summary = monitor_model(str(config), window_end="2026-01-11", as_of="2026-01-12")
        seconds, process = time.perf_counter() - t0, time.perf_counter() - started
        rss = peak_rss_mb()
        t0 = time.perf_counter()
        monitor_model(str(config), window_end="2026-01-11", as_of="2026-01-12")
        warm = time.perf_counter() - t0
    engine = store.open_store(get_settings().resolved_store_url())
    runs = store.latest_runs(engine, summary["model"], start=store.utc(DAY))
    drift = store.run_metrics(engine, [int(runs["id"].iloc[0])], kind="drift")
    verdicts = {
        r["column"]: not bool(r["passed"])
        for _, r in drift.iterrows()
        if r["column"] and json.loads(r["details"]).get("role") == "feature"
    }
    return {
        "seconds": seconds,
        "process_s": process,
        "warm_s": warm,
        "peak_rss_mb": rss,
        "verdicts": verdicts,
        "status": summary["status"],
        "rows": summary["rows"],
    }


def path_full(config: Path) -> dict:
    """scipy's exact Wasserstein distance between the whole reference and the whole window, per column."""
    from scipy import stats

    from driftwarden.config.loader import load_model_config

    cfg = load_model_config(config)
    verdicts = {}
    for col in cfg.columns.numerical:
        r = pq.read_table(config.parent / "reference.parquet", columns=[col]).column(0).to_numpy()
        c = pq.read_table(config.parent / "current.parquet", columns=[col]).column(0).to_numpy()
        w = stats.wasserstein_distance(r, c) / max(r.std(), 0.001)
        verdicts[col] = bool(w >= cfg.drift.wasserstein_threshold)
    return {"verdicts": verdicts, "peak_rss_mb": peak_rss_mb()}


def path_naive(config: Path) -> dict:
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref = pd.read_parquet(config.parent / "reference.parquet")
    cur = pd.read_parquet(config.parent / "current.parquet")
    feats = [c for c in ref.columns if c.startswith("f")]
    t0 = time.perf_counter()
    definition = DataDefinition(numerical_columns=feats)
    Report([DataDriftPreset(columns=feats)]).run(
        Dataset.from_pandas(cur[feats], data_definition=definition),
        Dataset.from_pandas(ref[feats], data_definition=definition),
    )
    ctx = gx.get_context(mode="ephemeral")
    batch = ctx.data_sources.add_pandas("n").add_dataframe_asset("a").add_batch_definition_whole_dataframe("b")
    suite = gx.ExpectationSuite(name="naive")
    for c in feats:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=c))
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=-6, max_value=6))
    batch.get_batch(batch_parameters={"dataframe": cur}).validate(suite)
    return {"seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


PATHS = {"setup": path_setup, "project": path_project, "full": path_full, "naive": path_naive}


def run_child(kind: str, config: Path) -> dict:
    env = {**os.environ, "DRIFTWARDEN_HOME": str(config.parent / "home"), "GX_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, __file__, "--child", kind, str(config)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"{kind} path failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(PATHS[args.child[0]](Path(args.child[1]))))
        return

    agree = total = injected_hits = clean_hits = 0
    runs, processes, warms, profiles, rss, naive_s = [], [], [], [], [], None
    extra: list[float] = []
    extra_warm: list[float] = []
    estimates_alone: list[float] = []
    pca_alone: list[float] = []
    print(
        f"{'seed':>4} {'gen_s':>6} {'profile_s':>9} {'run_s':>6} {'process_s':>9} {'warm_s':>6} {'rss_mb':>7} "
        f"{'agree':>6} {'injected':>8} {'clean':>5} {'est_s':>6} {'cbpe_s':>6} {'pca_s':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            config = write_case(Path(tmp) / f"seed{seed}", args.rows, args.features, seed)
            gen = time.perf_counter() - t0
            setup = run_child("setup", config)
            project = run_child("project", config)
            off = run_child("project", config.with_name("model_off.yaml"))
            pca_only = run_child("project", config.with_name("model_no_estimates.yaml"))
            extra.append(project["seconds"] - off["seconds"])
            estimates_alone.append(project["seconds"] - pca_only["seconds"])
            pca_alone.append(pca_only["seconds"] - off["seconds"])
            extra_warm.append(project["warm_s"] - off["warm_s"])
            full = run_child("full", config)
            if seed == 0 and not args.no_naive:
                naive_s = run_child("naive", config)["seconds"]
            inj = set(injected(args.features))
            a = sum(project["verdicts"].get(f) == full["verdicts"][f] for f in full["verdicts"])
            hits_i = sum(project["verdicts"].get(f, False) for f in inj)
            hits_c = sum(v for f, v in project["verdicts"].items() if f not in inj)
            agree, total = agree + a, total + len(full["verdicts"])
            injected_hits, clean_hits = injected_hits + hits_i, clean_hits + hits_c
            runs.append(project["seconds"])
            warms.append(project["warm_s"])
            processes.append(project["process_s"])
            profiles.append(setup["profile_s"])
            rss.append(project["peak_rss_mb"])
            print(
                f"{seed:>4} {gen:6.1f} {setup['profile_s']:9.1f} {project['seconds']:6.2f} {project['process_s']:9.2f} "
                f"{project['warm_s']:6.2f} "
                f"{project['peak_rss_mb']:7.0f} {a:>3}/{len(full['verdicts']):<2} {hits_i:>4}/{len(inj):<3} {hits_c:>5}"
                f" {extra[-1]:6.2f} {estimates_alone[-1]:6.2f} {pca_alone[-1]:6.2f}"
            )
            shutil.rmtree(config.parent)  # 10M rows are 4 GB of Parquet a seed
    run_s = float(np.median(runs))
    result = {
        "rows": args.rows,
        "features": args.features,
        "run_s": round(run_s, 2),
        "process_s": round(float(np.median(processes)), 2),
        "warm_s": round(float(np.median(warms)), 2),
        "profile_s": round(float(np.median(profiles)), 2),
        "naive_s": None if naive_s is None else round(naive_s, 2),
        "ratio": None if naive_s is None else round(naive_s / run_s, 1),
        "peak_rss_mb": round(float(np.median(rss))),
        "verdict_agreement": round(agree / total, 4),
        "injected_flagged": f"{injected_hits}/{len(injected(args.features)) * args.seeds}",
        "clean_flagged": clean_hits,
        "estimation_s": round(float(np.median(extra)), 2),
        "estimation_warm_s": round(float(np.median(extra_warm)), 2),
        "estimates_alone_s": round(float(np.median(estimates_alone)), 2),
        "multivariate_alone_s": round(float(np.median(pca_alone)), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
