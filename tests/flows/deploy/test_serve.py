"""The embedded default's schedules are live: `driftwarden serve` with no PREFECT_API_URL starts a Prefect
server of its own (an in-process API has no scheduler), serves the models' deployments, and a scheduled run
lands in the store. Stopped by SIGTERM, it takes its server down with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from driftwarden.flows import store
from tests.flows.deploy.test_prefect_server import _free_port
from tests.streams import agrawal_config, write_agrawal_sources

pytestmark = [pytest.mark.slow, pytest.mark.server]


def _flow_runs(api: str) -> list[dict]:
    request = urllib.request.Request(
        f"{api}/flow_runs/filter", json.dumps({"limit": 200}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def test_serve_starts_its_own_server_and_a_scheduled_run_lands_in_the_store(tmp_path):
    project = tmp_path / "project"
    # Every minute, and a lateness that puts the scheduled window on 2025-02-24, inside the stream's data.
    days = (pd.Timestamp.now(tz="UTC") - pd.Timestamp("2025-02-25T00:00Z")).days
    config = write_agrawal_sources(project / "config", config=agrawal_config(data_lateness=f"{days}d"))
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, "schedule": "* * * * *"}))
    home = project / ".driftwarden"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_", "PREFECT_HOME"))}
    env.update(DRIFTWARDEN_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    env["PREFECT_RUNNER_POLL_FREQUENCY"] = "1"  # the runner looks for due runs every second, not every 10 s
    env.pop("DRIFTWARDEN_STORE_URL", None)
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [str(Path(sys.executable).parent / "driftwarden"), "serve", "--port", str(port), "config/agrawal.yaml"],
        cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline, done = time.monotonic() + 240, []
        while time.monotonic() < deadline and not done:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(3)
            try:
                runs = _flow_runs(api)
            except OSError:
                continue  # the server is starting
            # monitor-model's runs: not the dead-man's switch's (tagged silence), which stores no window
            monitor = [r for r in runs if not {"silence", "retrain"} & set(r.get("tags") or [])]
            done = [r for r in monitor if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")]
        assert done, (tmp_path / "serve.log").read_text()[-3000:]
        assert done[0]["state_type"] == "COMPLETED", done[0]
        assert any(r["state_type"] == "SCHEDULED" for r in runs)  # the next minutes are scheduled too
        stored = store.latest_runs(store.open_store(f"sqlite:///{home.resolve() / 'store.db'}"), "agrawal")
        assert not stored.empty, (done[0], (tmp_path / "serve.log").read_text()[-3000:])
        assert str(stored["window_start"].iloc[-1])[:10] == "2025-02-24" and stored["rows"].iloc[-1] > 10
        text = (tmp_path / "serve.log").read_text()
        assert f"Prefect server for the schedules at http://127.0.0.1:{port}" in text
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=90)
    with pytest.raises(OSError):  # its server went with it
        _flow_runs(api)
