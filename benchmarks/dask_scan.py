"""How long does a window's scan take in one process, and on the workers of a Dask cluster; do they agree?

    .venv/bin/python benchmarks/dask_scan.py [--rows 1000000 10000000] [--features 20] [--workers 2]
                                             [--baseline-commit <commit before the Dask scan>]

For each size it writes a reference and a window of predictions as Parquet files of FILE_ROWS rows by row
groups of 250k (as ``nightly.py`` makes them: drift in the first quarter of the features, a 0.25 sd shift),
then scans the window (validation, drift sketches, KPI rows, failure candidates, the report's sample: what
``monitor.tasks.scan_window`` does) each way in a fresh subprocess, so that its peak memory is its own:
  single  ``WindowScan`` over ``sources.scan_predictions`` in this process (``DRIFTWARDEN_CHUNK_ROWS``);
  dask    ``monitor.dask_scan.scan_on_dask`` on a LocalCluster of ``--workers`` worker processes (one thread
          each) started first and warmed (``startup_s``: the processes, their imports, GX's context);
          ``peak_rss_mb`` is the driver's, ``worker_rss_mb`` the largest worker's.
Both clocks start with the libraries imported and GX's context made; both include planning and reading.
  baseline  with ``--baseline-commit``: ``single`` with the code of that commit (exported with ``git archive``
          and put first on the path, as ``backfill.py`` does), to see what the one-process scan pays for
          being mergeable (``baseline_s``; its decisions, not its last bits, are compared).
``same`` says whether the verdicts agree exactly (validation outcomes, every drift value and decision, KPI
values and intervals, the failure log's rows). It prints a table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

sys.path.insert(0, str(Path(__file__).parent))
from nightly import DAY, SHIFT_SD, features, injected  # noqa: E402

FILE_ROWS = 1_000_000
GROUP_ROWS = 250_000


def write_files(folder: Path, rows: int, n_features: int, seed: int, shifted: bool, stem: str) -> None:
    """Files of FILE_ROWS rows, each a slice of the day in time order, written a row group at a time."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for f, first in enumerate(range(0, rows, FILE_ROWS)):
        n_file = min(FILE_ROWS, rows - first)
        writer = None
        for start in range(first, first + n_file, GROUP_ROWS):
            n = min(GROUP_ROWS, first + n_file - start)
            secs = np.linspace(start * 86_400 / rows, (start + n) * 86_400 / rows, n, endpoint=False)
            x = rng.normal(size=(n, n_features))
            if shifted:
                x[:, : len(injected(n_features))] += SHIFT_SD
            cols: dict[str, object] = {"ts": DAY + pd.to_timedelta(secs, unit="s"), "id": np.arange(start, start + n)}
            cols.update({name: x[:, i] for i, name in enumerate(features(n_features))})
            p = 1 / (1 + np.exp(-x[:, :3].sum(axis=1)))
            cols.update(proba=p, pred=(p >= 0.5).astype(int), y=(rng.uniform(size=n) < p).astype(int))
            table = pa.Table.from_pandas(pd.DataFrame(cols), preserve_index=False)
            writer = writer or pq.ParquetWriter(folder / f"{stem}-{f:03d}.parquet", table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()


def write_case(folder: Path, rows: int, n_features: int) -> Path:
    write_files(folder / "reference", min(rows, 1_000_000), n_features, 10_000, False, "ref")
    write_files(folder / "window", rows, n_features, 1, True, "pred")
    config = {
        "name": "bench_dask",
        "task": "binary",
        "sources": {"predictions": {"path": "window/*.parquet"}, "reference": {"path": "reference/*.parquet"}},
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
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- each path in its own subprocess ------------------------------------------------------------------------


def _setup(config: Path) -> tuple:
    """The config, the reference's profile (not timed) and GX's context, as a nightly run has them."""
    from driftwarden.checks.profile import ProfileBuilder
    from driftwarden.checks.validation import _batch_definition
    from driftwarden.config.loader import load_model_config
    from driftwarden.config.settings import prepare_environment
    from driftwarden.flows import sources
    from driftwarden.flows.monitor.tasks import profile_columns

    prepare_environment(quiet=True)
    cfg = load_model_config(config)
    builder = None
    for chunk in sources.scan_reference(cfg):
        builder = builder or ProfileBuilder(*profile_columns(cfg, chunk))
        builder.add(chunk)
    assert builder is not None
    _batch_definition()
    return cfg, builder.finish()


def _verdicts(cfg, profile, result) -> dict:
    """What a run decides on the scan, as plain values (compared between the paths)."""
    from driftwarden.checks.drift import decide_drift
    from driftwarden.checks.failures import select_failures
    from driftwarden.checks.kpis import evaluate_kpis

    drift = decide_drift([(n, r, s) for n, (r, s) in result.sketches.items()], profile, cfg.drift)
    kpis = evaluate_kpis(result.window.labelled, cfg, result.window.rows)
    failures = select_failures(result.validation, result.window.candidates, cfg)
    return {
        "rows": result.window.rows,
        "validation": [[o.column, o.success, o.bad_share] for o in result.validation.outcomes],
        "drift": [[c.column, c.method, c.value, c.drifted] for c in drift.columns],
        "kpis": [[v.metric, v.segment, v.value, v.lower, v.upper, v.level] for v in kpis.values],
        "failures": sorted([f.reason, f.row_id] for f in failures),
        "drifted": sorted(drift.drifted_features),
    }


def path_single(config: Path) -> dict:
    from driftwarden.checks.scan import WindowScan
    from driftwarden.flows import sources

    cfg, profile = _setup(config)
    end = DAY + pd.Timedelta(days=1)
    t0 = time.perf_counter()
    scan = WindowScan(cfg, profile, DAY, end, None, [], 5000)
    for chunk in sources.scan_predictions(cfg, DAY, end):
        scan.add(chunk)
        del chunk
    result = scan.finish()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "verdicts": _verdicts(cfg, profile, result)}


def _warm() -> float:
    """On a worker: what its first piece would import, and GX's context; its peak memory so far."""
    from driftwarden.checks.validation import _batch_definition
    from driftwarden.config.settings import prepare_environment
    from driftwarden.flows.monitor import dask_scan  # noqa: F401

    prepare_environment()
    _batch_definition()
    return peak_rss_mb()


def path_dask(config: Path, workers: int) -> dict:
    import distributed

    from driftwarden.flows.monitor.dask_scan import scan_on_dask

    cfg, profile = _setup(config)
    end = DAY + pd.Timedelta(days=1)
    t0 = time.perf_counter()
    with (
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.run(_warm)
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = scan_on_dask(cfg, profile, DAY, end, None, [], 5000, cluster.scheduler_address)
        seconds = time.perf_counter() - t0
        worker_rss = max(client.run(peak_rss_mb).values())
    return {
        "seconds": seconds,
        "startup_s": startup,
        "peak_rss_mb": peak_rss_mb(),
        "worker_rss_mb": worker_rss,
        "verdicts": _verdicts(cfg, profile, result),
    }


def decisions(verdicts: dict) -> dict:
    """The verdicts less their last bits: what passed, what drifted, each KPI's level."""
    return {
        "validation": [v[:2] for v in verdicts["validation"]],
        "drifted": verdicts["drifted"],
        "kpis": [[k[0], k[1], k[5]] for k in verdicts["kpis"]],
        "failures": verdicts["failures"],
    }


def baseline_tree(root: Path, commit: str) -> Path:
    """The code at ``commit`` as an importable ``driftwarden`` package (its three folders), first on the path."""
    repo = Path(__file__).resolve().parent.parent
    tree = root / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    package = root / "baseline-path" / "driftwarden"
    package.mkdir(parents=True)
    for folder in ("checks", "config", "flows"):
        (package / folder).symlink_to(tree / folder)
    return package.parent


def run_child(kind: str, config: Path, workers: int, path: Path | None = None) -> dict:
    env = {**os.environ, "DRIFTWARDEN_HOME": str(config.parent / "home"), "GX_ANALYTICS_ENABLED": "False"}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    cmd = [sys.executable, __file__, "--child", kind, str(config), "--workers", str(workers)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"{kind} path failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-commit", help="also time the one-process scan with this commit's code")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, config = args.child[0], Path(args.child[1])
        result = path_single(config) if kind == "single" else path_dask(config, args.workers)
        print(json.dumps(result))
        return

    print(
        f"{'rows':>10} {'gen_s':>6} {'baseline_s':>10} {'single_s':>8} {'dask_s':>7} {'overhead_s':>10} "
        f"{'startup_s':>9} {'single_mb':>9} {'driver_mb':>9} {'worker_mb':>9} {'same':>5}"
    )
    figures = []
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            config = write_case(Path(tmp), rows, args.features)
            gen = time.perf_counter() - t0
            base = None
            if args.baseline_commit:
                base = run_child("single", config, args.workers, baseline_tree(Path(tmp), args.baseline_commit))
            single = run_child("single", config, args.workers)
            dask = run_child("dask", config, args.workers)
        same = single["verdicts"] == dask["verdicts"]
        row = {
            "rows": rows,
            "single_s": round(single["seconds"], 2),
            "dask_s": round(dask["seconds"], 2),
            "overhead_s": round(dask["seconds"] - single["seconds"], 2),
            "startup_s": round(dask["startup_s"], 2),
            "single_peak_rss_mb": round(single["peak_rss_mb"]),
            "driver_peak_rss_mb": round(dask["peak_rss_mb"]),
            "worker_peak_rss_mb": round(dask["worker_rss_mb"]),
            "same_verdicts": same,
            "drifted": dask["verdicts"]["drifted"],
        }
        if base is not None:
            row["baseline_s"] = round(base["seconds"], 2)
            row["baseline_peak_rss_mb"] = round(base["peak_rss_mb"])
            row["baseline_same_decisions"] = decisions(base["verdicts"]) == decisions(single["verdicts"])
        figures.append(row)
        base_s = f"{row['baseline_s']:10.2f}" if base is not None else f"{'-':>10}"
        print(
            f"{rows:>10} {gen:6.1f} {base_s} {row['single_s']:8.2f} {row['dask_s']:7.2f} {row['overhead_s']:10.2f} "
            f"{row['startup_s']:9.2f} {row['single_peak_rss_mb']:9} {row['driver_peak_rss_mb']:9} "
            f"{row['worker_peak_rss_mb']:9} {str(same):>5}"
        )
    print(json.dumps({"features": args.features, "workers": args.workers, "sizes": figures}))


if __name__ == "__main__":
    main()
