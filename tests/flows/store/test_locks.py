"""Two runs of one window never interleave; runs of different windows proceed in parallel. Tested with
real processes on SQLite and on the real PostgreSQL, and through the monitor-model flow."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.store import locks
from tests.streams import write_agrawal_sources

# A separate process that takes the lock of one window at a given moment, holds it, and says what happened.
WORKER = """
import json, sys, time
from datetime import datetime, timedelta
from driftwarden.flows.store import locks
from driftwarden.flows import store
url, window, go, hold = sys.argv[1], datetime.fromisoformat(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
engine = store.open_store(url)
while time.time() < go:
    time.sleep(0.01)
try:
    lock = locks.acquire(engine, "m", window, f"window {sys.argv[2]}", timedelta(hours=1))
except locks.WindowBusy as exc:
    print(json.dumps({"busy": str(exc)}))
else:
    took = time.time()
    time.sleep(hold)
    locks.release(engine, lock)
    print(json.dumps({"took": took, "released": time.time()}))
"""

D1, D2 = "2026-03-01T00:00:00", "2026-03-02T00:00:00"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store.open_store(url)  # migrated once here, so that the workers race for the lock, not for the schema
    return url


def _race(url: str, windows: list[str], hold: float = 2.0) -> list[dict]:
    go = time.time() + 4.0  # both processes are up and connected well before
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, w, str(go), str(hold)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for w in windows
    ]
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr.decode()
        results.append(json.loads(stdout.decode().strip().splitlines()[-1]))
    return results


def test_two_processes_on_one_window_one_is_refused(store_url):
    results = _race(store_url, [D1, D1])
    took = [r for r in results if "took" in r]
    busy = [r["busy"] for r in results if "busy" in r]
    assert len(took) == 1 and len(busy) == 1, results
    assert f"window {D1} of model m is being monitored by another run since" in busy[0]
    engine = store.open_store(store_url)
    with engine.connect() as conn:  # released: nothing left behind
        assert conn.execute(sa.select(sa.func.count()).select_from(store.run_locks)).scalar() == 0


def test_two_processes_on_different_windows_run_in_parallel(store_url):
    a, b = _race(store_url, [D1, D2])
    assert "took" in a and "took" in b, (a, b)
    assert a["took"] < b["released"] and b["took"] < a["released"]  # both held their lock at the same time


def test_a_stale_lock_expires_and_is_taken_over(tmp_path, dw_home, monkeypatch):
    # beats far apart (5 missed: 5 h, past the 1 h TTL): the TTL alone lets the lock go here
    monkeypatch.setenv("DRIFTWARDEN_RUN_LOCK_HEARTBEAT", "3600")
    get_settings.cache_clear()
    engine = store.open_store(f"sqlite:///{tmp_path / 'store.db'}")
    window = datetime(2026, 3, 1)
    then = datetime(2026, 3, 2, 1, 0)
    crashed = locks.acquire(engine, "m", window, "w", timedelta(hours=1), now=then)
    with pytest.raises(locks.WindowBusy, match="being monitored by another run since 2026-03-02 01:00:00 UTC"):
        locks.acquire(engine, "m", window, "w", timedelta(hours=1), now=then + timedelta(minutes=59))
    taken = locks.acquire(engine, "m", window, "w", timedelta(hours=1), now=then + timedelta(hours=1))
    assert taken.owner != crashed.owner
    locks.release(engine, crashed)  # the crashed run coming back removes nothing of the new holder's
    with pytest.raises(locks.WindowBusy):
        locks.acquire(engine, "m", window, "w", timedelta(hours=1), now=then + timedelta(hours=1, minutes=1))
    locks.release(engine, taken)
    locks.release(engine, locks.acquire(engine, "m", window, "w", timedelta(hours=1)))


@pytest.mark.slow
def test_a_run_of_a_window_another_run_holds_is_refused_and_stores_nothing(tmp_path, dw_home):
    config = write_agrawal_sources(tmp_path / "agrawal")
    url = get_settings().resolved_store_url()
    engine = store.open_store(url)
    held = locks.acquire(engine, "agrawal", datetime(2025, 2, 20), "2025-02-20", timedelta(hours=1))
    runner = CliRunner()
    args = ["run", "--config", str(config), "--window-end", "2025-02-21", "--json"]
    refused = runner.invoke(app, args, catch_exceptions=False)
    assert refused.exit_code == 1
    summary = json.loads(refused.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed"
    assert "window 2025-02-20T00:00:00+00:00 .. 2025-02-21T00:00:00+00:00 of model agrawal" in summary["error"]
    assert "is being monitored by another run since" in summary["error"]
    assert store.latest_runs(engine, "agrawal").empty  # the other run owns the window's versions
    other = runner.invoke(app, ["run", "--config", str(config), "--window-end", "2025-02-22", "--json"])
    assert other.exit_code == 0, other.output  # another window of the same model is not blocked
    locks.release(engine, held)
    ok = runner.invoke(app, args, catch_exceptions=False)
    assert ok.exit_code == 0 and json.loads(ok.stdout.strip().splitlines()[-1])["status"] != "failed"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.run_locks)).scalar() == 0


def test_one_retraining_of_a_model_at_a_time(dw_home):
    engine = store.open_store(get_settings().resolved_store_url())
    first = locks.acquire_retraining(engine, "m", timedelta(hours=1))
    with pytest.raises(locks.WindowBusy, match="the registry of model m is being retrained by another run"):
        locks.acquire_retraining(engine, "m", timedelta(hours=1))
    other = locks.acquire_retraining(engine, "n", timedelta(hours=1))  # another model's retraining may run
    locks.release(engine, first)
    locks.release(engine, other)
    locks.release(engine, locks.acquire_retraining(engine, "m", timedelta(hours=1)))
