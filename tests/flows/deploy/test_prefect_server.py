"""The production path on a real Prefect server: `prefect server start`, a process work pool, `prefect deploy`
from deployments/prefect.yaml, a worker; the monitoring deployment on a night with injected drift, then the
retraining deployment, checked in the store and the registry. Everything is shut down by process id."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driftwarden.config.loader import load_model_config
from driftwarden.config.settings import EMBEDDED_SERVER_DEFAULTS, get_settings
from driftwarden.flows.deploy.embedded import stop_process_group, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.server]
REPO = Path(__file__).resolve().parents[3]
PREFECT = str(Path(sys.executable).parent / "prefect")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _prefect(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run([PREFECT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_deployments_run_on_a_real_server_through_a_process_worker(tmp_path, monkeypatch):
    # A project folder of its own, outside the checkout: the demo's config (its data lands beside it). The
    # entrypoints are module paths of the installed package, so the worker needs no source tree.
    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "credit_risk.yaml", project / "config" / "credit_risk.yaml")
    home = project / ".driftwarden"
    monkeypatch.setenv("DRIFTWARDEN_HOME", str(home))
    monkeypatch.delenv("DRIFTWARDEN_STORE_URL", raising=False)
    get_settings.cache_clear()
    from driftwarden.flows.demo import data as demo
    from driftwarden.flows.deploy.deployments import render

    cfg = load_model_config(project / "config" / "credit_risk.yaml")
    demo.generate(cfg)  # applicants, labels, reference, and champion v1 in the registry
    (project / "deployments").mkdir()
    (project / "deployments" / "prefect.yaml").write_text(render([project / "config" / "credit_risk.yaml"], project))

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "DRIFTWARDEN_HOME": str(home),
    }
    env.pop("PREFECT_API_KEY", None)
    for key in EMBEDDED_SERVER_DEFAULTS:  # a real server runs all its services, as in production
        env.pop(key, None)
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
    server = _start([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path, server_log)
    worker = None
    try:
        wait_healthy(api, server, server_log, timeout=90)
        _prefect(["work-pool", "create", "driftwarden", "--type", "process"], env, project)
        _prefect(["--no-prompt", "deploy", "--prefect-file", "deployments/prefect.yaml", "--all"], env, project)
        # the worker asks for scheduled runs every second, not every 10 s: the same path, less waiting
        worker_env = {**env, "PREFECT_WORKER_QUERY_SECONDS": "1"}
        worker = _start([PREFECT, "worker", "start", "--pool", "driftwarden"], worker_env, project, worker_log)
        night8_end = "2026-10-09T00:00:00+02:00"  # night 8: younger applicants, lower incomes, larger loans
        run = _prefect(
            ["deployment", "run", "monitor-model/credit_risk", "--params", json.dumps({"window_end": night8_end}),
             "--watch", "--watch-interval", "1", "--watch-timeout", "300"],
            env, project, timeout=360,
        )  # fmt: skip
        assert "Completed" in run, run + worker_log.read_text()[-3000:]

        from driftwarden.flows import store

        runs = store.latest_runs(store.open_store(get_settings().resolved_store_url()), "credit_risk")
        assert len(runs) == 1, worker_log.read_text()[-3000:]
        night = runs.iloc[0]
        assert night["status"] == "breach" and "input_drift" in json.loads(night["causes"])
        assert night["trigger"] == "run"

        # The dead-man's switch's deployment, the third entrypoint: it runs on the worker and finds the model's
        # runs fresh enough not to alert (its own flow run completing is what is checked here).
        silence = _prefect(
            ["deployment", "run", "check-silence/credit_risk",
             "--watch", "--watch-interval", "1", "--watch-timeout", "300"],
            env, project, timeout=360,
        )  # fmt: skip
        assert "Completed" in silence, silence + worker_log.read_text()[-3000:]

        # Retraining by hand through its deployment, replaying the data known on 14 October.
        retrain = _prefect(
            ["deployment", "run", "retrain-model/credit_risk", "--params",
             json.dumps({"as_of": "2026-10-14T00:00:00+02:00", "reason": "integration test"}),
             "--watch", "--watch-interval", "1", "--watch-timeout", "300"],
            env, project, timeout=360,
        )  # fmt: skip
        assert "Completed" in retrain, retrain + worker_log.read_text()[-3000:]
        from driftwarden.flows.registry.versions import Registry

        attempts = Registry(cfg).attempts()
        assert [a["reason"] for a in attempts] == ["integration test"]
        assert attempts[0]["outcome"] in ("pending", "kept") and attempts[0]["cause"] == "input_drift", attempts
        assert attempts[0]["rows"]["holdout"] > 2000  # night 8, held out

        # The policy's turn on a served deployment: nights 19-23 of the concept change replayed, then the
        # nightly deployment of night 24 finds two breached mature nights and starts retrain-model through
        # run_deployment, a flow run of its own that the worker picks up.
        replay = subprocess.run(
            [str(Path(sys.executable).parent / "driftwarden"), "backfill", "--config", "config/credit_risk.yaml",
             "--start", "2026-10-19", "--end", "2026-10-24", "--json"],
            env=env, cwd=project, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr[-2000:]
        night24 = {"window_end": "2026-10-25T00:00:00+02:00", "as_of": "2026-10-25T00:00:00+02:00"}
        run = _prefect(
            ["deployment", "run", "monitor-model/credit_risk", "--params", json.dumps(night24),
             "--watch", "--watch-interval", "1", "--watch-timeout", "300"],
            env, project, timeout=360,
        )  # fmt: skip
        assert "Completed" in run, run + worker_log.read_text()[-3000:]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(Registry(cfg).attempts()) < 2:
            time.sleep(2)
        auto = Registry(cfg).attempts()[-1]
        assert auto["trigger"] == "policy" and auto["cause"] == "concept_change", (auto, worker_log.read_text()[-3000:])
        # it beat the champion on night 20 and waits for night 21's labels (the demo's night 25 decides)
        assert auto["outcome"] == "pending" and auto["shadow"]["windows"] == 1, auto
        flow_runs = json.loads(_prefect(["flow-run", "ls", "--flow-name", "retrain-model", "-o", "json"], env, project))
        retrains = [r for r in flow_runs if r["name"].startswith("credit_risk-retrain")]
        assert len(retrains) == 2, [r["name"] for r in flow_runs]  # by hand, and started by the policy
        assert all(r["state"]["type"] == "COMPLETED" for r in retrains), [r["state"] for r in retrains]
    finally:
        if worker is not None:
            stop_process_group(worker)
        stop_process_group(server)
        get_settings.cache_clear()
