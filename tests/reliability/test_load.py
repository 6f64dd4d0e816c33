"""Load: several models backfilled side by side into one PostgreSQL store (benchmarks/load.py at 50 x 30 is the
benchmark; this is its 5 x 5 version). Every window is stored once, and no lock is left behind."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from benchmarks.load import START, census, write_configs
from tests.reliability.conftest import Observed, assert_as_table

MODELS, WINDOWS = 5, 5


@pytest.mark.slow
@pytest.mark.case("fault.load_5x5")
def test_five_models_of_five_windows_backfilled_two_at_a_time_on_postgresql(
    tmp_path, dw_home, postgres_url, prefect_server, tally
):
    from prefect.settings import PREFECT_API_URL

    windows = list(pd.date_range(START, periods=WINDOWS, freq="D"))
    configs = write_configs(tmp_path / "load", MODELS)
    # The children report to the tests' Prefect server rather than each starting one of its own
    env = {**os.environ, "DRIFTWARDEN_STORE_URL": postgres_url, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    cmd = [sys.executable, "-m", "driftwarden.flows.cli", "backfill"]
    for path in configs:
        cmd += ["--config", str(path)]
    end = (windows[-1] + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    cmd += ["--start", START.strftime("%Y-%m-%d"), "--end", end, "--json", "--concurrency", "2"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    told = sum(1 for line in done.stdout.splitlines() if line.startswith("{"))
    figures = census(postgres_url, MODELS, windows)
    tally.add("concurrent_runs", MODELS)
    tally.add("runs_lost", figures["windows_missing"])
    tally.add("duplicate_results", figures["replayed_twice"] + figures["current_versions_beyond_one"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert told == MODELS * WINDOWS, done.stdout[-3000:]
    assert figures == {
        "windows_missing": 0, "replayed_twice": 0, "current_versions_beyond_one": 0, "locks_left": 0
    }, figures  # fmt: skip
    assert_as_table("fault.load_5x5", Observed("survives", f"{told} windows, {figures}"), tally)
