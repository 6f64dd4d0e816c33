"""How long does history take to replay, and a nightly run to start and end, beside the path they replace?

    .venv/bin/python benchmarks/backfill.py [--windows 365] [--rows 2500] [--sample 20] [--repeats 3]
                                            [--baseline-commit cddfd9e]

The demo's model and config (credit risk, daily windows in Europe/Berlin, labels one to four days late, a
5-day label horizon, batch scoring by the champion, the retrain policy on) over ``--windows`` nights of
``--rows`` applicants on average (its month of injected events, then calm nights under the new concept).
Each figure is the wall time of the ``driftwarden`` command, from the command to its exit, in a fresh home:

  backfill        today's ``driftwarden backfill``: every window in one flow run (``backfill_s``)
  baseline        the same command at ``--baseline-commit`` (one monitor-model flow run per window, the code
                  before this path), on the first ``--sample`` windows (``baseline_per_window_s``)
  run             ``driftwarden run`` of the night after a week of backfilled nights (its label catch-up
                  re-scores the nights within the horizon), here and at the baseline commit (``run_s``,
                  ``baseline_run_s``), and where the time went (cProfile of each, top entries printed)

The baseline commit's code is exported with ``git archive`` and put first on the path, so both run in this
venv with the same libraries. Medians over ``--repeats``. The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_home(root: Path, windows: int, rows: int) -> tuple[Path, Path]:
    """A fresh home with the demo's config, data for ``windows`` nights and champion v1."""
    from driftwarden.config.loader import load_model_config
    from driftwarden.config.settings import get_settings
    from driftwarden.flows.demo import data as demo_data

    home = Path(tempfile.mkdtemp(dir=root))
    os.environ["DRIFTWARDEN_HOME"] = str(home)  # the champion is registered under the home's registry
    get_settings.cache_clear()
    config = demo_data.demo_config(home)
    demo_data.generate(load_model_config(config), home=home, nights=windows, rows=rows)
    return home, config


def baseline_tree(root: Path, commit: str) -> Path:
    """The code at ``commit`` as an importable ``driftwarden`` package (its three folders), first on the path."""
    tree = root / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    package = root / "baseline-path" / "driftwarden"
    package.mkdir(parents=True)
    for folder in ("checks", "config", "flows"):
        (package / folder).symlink_to(tree / folder)
    return package.parent


def cli(home: Path, args: list[str], baseline: Path | None = None, profile: Path | None = None) -> float:
    """Seconds from the command to its exit; a window that failed, or a missing one, stops the benchmark (a
    fast failure is no figure)."""
    env = {**os.environ, "DRIFTWARDEN_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    if baseline is not None:
        env["PYTHONPATH"] = str(baseline)
    prefix = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else [])]
    started = time.perf_counter()
    done = subprocess.run([*prefix, "-m", "driftwarden.flows.cli", *args], env=env, capture_output=True, text=True)
    spent = time.perf_counter() - started
    windows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    failed = [w for w in windows if w["status"] == "failed"]
    if done.returncode != 0 or failed or not windows:
        why = failed[0]["error"] if failed else done.stderr[-2000:]
        raise RuntimeError(f"{args[0]} failed ({done.returncode}, {len(failed)} windows failed): {why}")
    if args[0] == "backfill":
        statuses = {s: sum(w["status"] == s for w in windows) for s in ("ok", "warning", "breach")}
        print(f"  {args[0]}: {len(windows)} windows {statuses}", flush=True)
    return spent


def day(n: int) -> str:
    """The start of night ``n`` (1-based) of the demo."""
    import pandas as pd

    from driftwarden.flows.demo import data as demo_data

    return (demo_data.START + pd.Timedelta(days=n - 1)).strftime("%Y-%m-%d")


def top(profile: Path, n: int = 12) -> list[str]:
    """The entries with the most cumulative time below the command (driftwarden's steps and the big imports)."""
    stats = pstats.Stats(str(profile))
    rows = []
    for (file, _line, name), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        if (
            ("/flows/" in file or "/checks/" in file)
            and name not in ("<module>",)
            or name == "<module>"
            and any(lib in file for lib in ("great_expectations/__init__", "evidently/__init__", "prefect/__init__"))
        ):
            rows.append((cum, f"{cum:7.2f} s  {Path(file).parent.name}/{Path(file).name}:{name}"))
    return [text for _, text in sorted(rows, reverse=True)[:n]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=365)
    ap.add_argument("--rows", type=int, default=2500)
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-commit", default="cddfd9e")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dw-bench-"))
    try:
        old = baseline_tree(root, args.baseline_commit)
        backfill_s, baseline_s, run_s, baseline_run_s = [], [], [], []
        for rep in range(args.repeats):
            home, config = make_home(root, args.windows, args.rows)
            span = ["--config", str(config), "--start", day(1), "--end", day(args.windows + 1), "--json"]
            backfill_s.append(cli(home, ["backfill", *span]))
            home, config = make_home(root, args.sample, args.rows)
            span = ["--config", str(config), "--start", day(1), "--end", day(args.sample + 1), "--json"]
            baseline_s.append(cli(home, ["backfill", *span], baseline=old))
            for code, into in ((None, run_s), (old, baseline_run_s)):
                home, config = make_home(root, 8, args.rows)
                week = ["--config", str(config), "--start", day(1), "--end", day(8), "--json"]
                cli(home, ["backfill", *week], baseline=code)
                profile = root / f"run-{'baseline' if code else 'new'}-{rep}.prof" if rep == 0 else None
                into.append(
                    cli(home, ["run", "--config", str(config), "--window-end", day(9), "--json"], code, profile)
                )
            print(
                f"repeat {rep + 1}: backfill {args.windows} windows {backfill_s[-1]:.1f} s; baseline "
                f"{args.sample} windows {baseline_s[-1]:.1f} s; run {run_s[-1]:.1f} s (baseline "
                f"{baseline_run_s[-1]:.1f} s)",
                flush=True,
            )
        for name in ("baseline", "new"):
            print(f"\nwhere `driftwarden run` spent its time ({name}, cProfile, cumulative):")
            for line in top(root / f"run-{name}-0.prof"):
                print("  " + line)
        b = statistics.median(backfill_s)
        base = statistics.median(baseline_s) / args.sample
        figures = {
            "windows": args.windows,
            "rows_per_window": args.rows,
            "backfill_s": round(b, 2),
            "per_window_s": round(b / args.windows, 3),
            "baseline_per_window_s": round(base, 3),
            "speedup": round(base / (b / args.windows), 1),
            "baseline_sample_windows": args.sample,
            "run_s": round(statistics.median(run_s), 2),
            "baseline_run_s": round(statistics.median(baseline_run_s), 2),
            "baseline_commit": args.baseline_commit,
            "repeats": args.repeats,
        }
        print(
            f"\n{'path':<34}{'windows':>8}{'seconds':>10}{'per window':>12}\n"
            f"{'baseline (one flow run a window)':<34}{args.sample:>8}{statistics.median(baseline_s):>10.1f}"
            f"{base:>12.3f}\n"
            f"{'backfill (one flow run)':<34}{args.windows:>8}{b:>10.1f}{b / args.windows:>12.3f}\n"
            f"{'run (baseline)':<34}{1:>8}{figures['baseline_run_s']:>10.1f}\n"
            f"{'run':<34}{1:>8}{figures['run_s']:>10.1f}"
        )
        print(json.dumps(figures))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
