"""A backfill killed mid-way resumes where it stopped, nothing twice (models replayed side by side on
PostgreSQL under load: benchmarks/load.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from driftwarden.flows import store
from tests.flows.monitor.test_backfill import _backfill_cmd, _days, _env, _read_json, cli
from tests.reliability.conftest import Observed, assert_as_table
from tests.streams import write_agrawal_sources

pytestmark = pytest.mark.slow  # whole monitoring runs, end to end


@pytest.mark.case("fault.killed_backfill_resumes")
def test_a_killed_backfill_resumes_after_the_windows_it_had_replayed(tmp_path, dw_home, tally):
    config = write_agrawal_sources(tmp_path / "agrawal")
    start, end = "2025-02-16", "2025-02-23"  # the concept change of 02-20 after the kill
    home = tmp_path / "killed"
    env = _env(home, tmp_path)
    checkpoint = home / "backfills" / "agrawal.json"
    cmd = _backfill_cmd(config, start, end)
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "stderr").open("w"),
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            done = (_read_json(checkpoint) or {}).get("done_until")
            if done is not None and pd.Timestamp(done) >= pd.Timestamp("2025-02-18", tz="UTC"):
                break
            time.sleep(0.01)
        assert proc.poll() is None, (
            "the backfill ended before it could be killed: " + (tmp_path / "stderr").read_text()[-3000:]
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # its group: the backfill and anything it started
        proc.wait()  # reaped: its pid no longer exists, so its window's lock is taken over
    done_until = pd.Timestamp(json.loads(checkpoint.read_text())["done_until"])
    assert pd.Timestamp("2025-02-18", tz="UTC") <= done_until < pd.Timestamp(end, tz="UTC")

    engine = store.open_store(f"sqlite:///{home / 'store.db'}")
    with engine.connect() as conn:  # a lock the kill left behind is the killed process's (taken over below)
        left = list(conn.execute(sa.select(store.run_locks.c.owner)).scalars())
    assert all(owner.split(":")[1] == str(proc.pid) for owner in left), left

    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    if left:  # killed mid-window: the window's lock was taken over at once, not waited out (6 h)
        assert "took over the lock" in again.stderr and left[0] in again.stderr, again.stderr[-3000:]
    resumed = [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")]
    assert [d["window_start"][:10] for d in resumed] == _days(start, end)
    assert not checkpoint.exists()

    told = [d["window_start"][:10] for d in resumed]
    tally.add("runs_lost", len(set(_days(start, end)) - set(told)))
    twice = 0
    for d in resumed:
        ws = pd.Timestamp(d["window_start"])
        versions = store.all_versions(engine, "agrawal", store.utc(ws))
        backfills = int((versions["trigger"] == "backfill").sum())
        twice += backfills - 1 if ws != done_until else 0
        if ws + pd.Timedelta(days=1) <= done_until:  # replayed before the kill: not again
            assert backfills == 1, (d["window_start"], versions[["run_version", "trigger", "status"]])
        elif ws == done_until:  # the window the kill interrupted: perhaps stored, replayed once more
            assert backfills in (1, 2), (d["window_start"], versions[["run_version", "trigger", "status"]])
        else:
            assert backfills == 1, (d["window_start"], versions[["run_version", "trigger", "status"]])
    tally.add("duplicate_results", twice)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.run_locks)).scalar() == 0

    result, whole = cli("backfill", "--config", str(config), "--start", start, "--end", end, "--json")
    assert result.exit_code == 0, result.output

    def outcome(d: dict[str, Any]) -> tuple:
        kpi = d["kpis"]["accuracy"]
        return (d["window_start"], d["status"], d["causes"], d["rows"], d["labelled_rows"],
                d["drifted_features"], kpi["value"], kpi["level"], d["status_since"])  # fmt: skip

    assert [outcome(d) for d in resumed] == [outcome(d) for d in whole]
    assert all(d["status"] != "failed" for d in resumed)
    assert any(d["status"] == "breach" for d in resumed)  # the concept change, caught across the kill
    assert_as_table("fault.killed_backfill_resumes", Observed("survives", "resumed after the windows it had replayed"))
