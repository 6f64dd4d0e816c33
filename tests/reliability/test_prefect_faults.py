"""The Prefect API goes away in the middle of a run (its server stops, the network to it is cut): the run's
verdict is stored once, and the command tells the truth soon after, not after minutes of retries. The tests'
Prefect server behind a loopback proxy that cuts every connection once the run holds its window's lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from driftwarden.flows import store
from tests.reliability.conftest import Observed, assert_as_table
from tests.reliability.faults import CutProxy
from tests.streams import write_agrawal_sources

pytestmark = pytest.mark.slow  # whole monitoring runs, end to end

WINDOW_END = "2025-02-12"


@pytest.mark.case("fault.prefect_api_down")
def test_the_prefect_api_lost_mid_run_the_verdict_is_stored_once_and_told(tmp_path, prefect_server, tally):
    from prefect.settings import PREFECT_API_URL

    api = urlsplit(str(PREFECT_API_URL.value()))
    assert api.hostname and api.port
    proxy = CutProxy((api.hostname, api.port), b"\x00never\x00")
    config = write_agrawal_sources(tmp_path / "agrawal")
    home = tmp_path / "home"
    env = {**os.environ, "DRIFTWARDEN_HOME": str(home), "PREFECT_HOME": str(tmp_path / "prefect")}
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{proxy.port}{api.path}"
    # the command's own Prefect settings, not the ones this test process was given
    for key in (
        "DRIFTWARDEN_STORE_URL",
        "DRIFTWARDEN_TEST_PAUSE_AT",
        "PREFECT_CLIENT_MAX_RETRIES",
        "PREFECT_LOGGING_LEVEL",
        "PREFECT_INTERNAL_LOGGING_LEVEL",
    ):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "driftwarden.flows.cli", "run", "--config", str(config)]
    cmd += ["--window-end", WINDOW_END, "--json"]
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    started = time.monotonic()
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(cmd, env=env, stdout=o, stderr=e)
    engine = None
    try:
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:  # the API goes once the run holds its lock
            if engine is None and (home / "store.db").exists():
                engine = store.open_store(f"sqlite:///{home / 'store.db'}")
            if engine is not None:
                try:
                    with engine.connect() as conn:
                        if conn.execute(sa.select(sa.func.count()).select_from(store.run_locks)).scalar():
                            proxy.cut()
                            break
                except sa.exc.OperationalError:  # the run is creating its tables
                    pass
            time.sleep(0.02)
        assert proxy.cuts == 1, "the run never took its lock: " + err.read_text()[-3000:]
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proxy.close()
    took = time.monotonic() - started
    stdout, stderr = out.read_text(), err.read_text()
    assert engine is not None
    with engine.connect() as conn:
        versions = conn.execute(sa.select(store.runs.c.run_version, store.runs.c.status)).all()
    tally.add("runs_lost", 1 - min(len(versions), 1))
    tally.add("duplicate_results", max(0, len(versions) - 1))
    assert len(versions) == 1, versions  # stored once
    ((version, status),) = versions
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, stdout[-2000:] + stderr[-3000:]
    told = lines[0]
    assert (told["model"], told["run_version"], told["status"]) == ("agrawal", version, status), told
    assert proc.returncode == (1 if status == "failed" else 0), stderr[-3000:]
    assert "Prefect's API (PREFECT_API_URL) was lost" in stderr, stderr[-3000:]
    assert "Traceback" not in stdout + stderr and "Event(" not in stderr, stderr[-3000:]
    assert took < 60, f"{took:.0f} s"  # Prefect's default retries held it for minutes
    assert_as_table("fault.prefect_api_down", Observed("survives", "the stored verdict told, with a warning"), tally)
