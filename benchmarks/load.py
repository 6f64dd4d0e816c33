"""Many models backfilled side by side on PostgreSQL: is every window stored once, is no lock left, how fast?

    .venv/bin/python benchmarks/load.py [--models 50] [--windows 30] [--concurrency 2]
                                        [--store-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

``--models`` models over the agrawal stream of tests/data (one config each, sources shared), ``--windows``
daily windows from 2025-01-25, replayed by one ``driftwarden backfill --config ... --concurrency N`` into a
schema of its own on the PostgreSQL server (dropped at the end). Prints the wall time, windows a second, the
peak memory of the command and its children (max RSS), the windows not stored, the versions of a window
stored by the backfill more than once, and the locks left. The last line is one JSON object of the figures.
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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
START = pd.Timestamp("2025-01-25")


def write_configs(folder: Path, models: int) -> list[Path]:
    from tests.streams import agrawal_config, write_agrawal_sources

    first = write_agrawal_sources(folder)
    paths = []
    for i in range(models):
        path = folder / f"load{i}.yaml"
        path.write_text(yaml.safe_dump(agrawal_config(name=f"load{i}")))
        paths.append(path)
    first.unlink()
    return paths


@contextmanager
def one_prefect_server() -> Iterator[str | None]:
    """The Prefect API the backfill's processes report to: PREFECT_API_URL if set, else a temporary server
    started here (without one, each model's process would start a server of its own)."""
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    from driftwarden.config.settings import prepare_environment

    prepare_environment()  # telemetry off before Prefect is imported, as the CLI does
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


def census(url: str, models: int, windows: list[pd.Timestamp]) -> dict[str, int]:
    """Windows never stored, backfill versions beyond one per window, current versions beyond one, locks."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select model, window_start, sum(case when trigger = 'backfill' then 1 else 0 end), "
                "sum(case when superseded then 0 else 1 end) from runs group by model, window_start"
            )
        ).all()
        locks = conn.execute(sa.text("select count(*) from run_locks")).scalar_one()
    engine.dispose()
    seen = {(m, pd.Timestamp(ws)): (int(b), int(c)) for m, ws, b, c in rows}
    expected = [(f"load{i}", w) for i in range(models) for w in windows]
    return {
        "windows_missing": sum(1 for k in expected if k not in seen),
        "replayed_twice": sum(max(0, b - 1) for b, _ in seen.values()),
        "current_versions_beyond_one": sum(max(0, c - 1) for _, c in seen.values()),
        "locks_left": int(locks),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--windows", type=int, default=30)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--store-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()

    schema = f"dw_load_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(args.store_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    url = f"{args.store_url}?options=-csearch_path%3D{schema}"
    windows = list(pd.date_range(START, periods=args.windows, freq="D"))
    end = (windows[-1] + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            configs = write_configs(Path(tmp) / "load", args.models)
            env = {**os.environ, "DRIFTWARDEN_HOME": str(Path(tmp) / "home"), "DRIFTWARDEN_STORE_URL": url}
            cmd = [sys.executable, "-m", "driftwarden.flows.cli", "backfill"]
            for path in configs:
                cmd += ["--config", str(path)]
            cmd += [
                "--start",
                START.strftime("%Y-%m-%d"),
                "--end",
                end,
                "--json",
                "--concurrency",
                str(args.concurrency),
            ]
            with one_prefect_server() as api_url:
                if api_url:  # the models' backfill processes report to one server, as under a deployment
                    env["PREFECT_API_URL"] = api_url
                began = time.monotonic()
                done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
                took = time.monotonic() - began
            told = sum(1 for line in done.stdout.splitlines() if line.startswith("{"))
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
        figures = census(url, args.models, windows)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    total = args.models * args.windows
    print(f"{args.models} models x {args.windows} windows, {args.concurrency} at a time, on PostgreSQL")
    print(f"time: {took:.1f} s, {total / took:.2f} windows/s, peak memory (largest process): {peak_mb:.0f} MB")
    print(
        f"windows told: {told} of {total}; not stored: {figures['windows_missing']}; replayed twice: "
        f"{figures['replayed_twice']}; current versions beyond one: {figures['current_versions_beyond_one']}; "
        f"locks left: {figures['locks_left']}; exit code {done.returncode}"
    )
    print(
        json.dumps(
            {
                "models": args.models, "windows": args.windows, "concurrency": args.concurrency,
                "seconds": round(took, 1), "windows_per_s": round(total / took, 3), "peak_rss_mb": round(peak_mb),
                "windows_told": told, "exit_code": done.returncode, **figures,
            }
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
