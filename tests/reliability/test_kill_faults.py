"""``kill -9`` of a ``driftwarden run`` at each stage of its window: reading, validating, writing the store,
writing reports, sending alerts. The run is held at the stage by ``DRIFTWARDEN_TEST_PAUSE_AT`` (it writes a
marker and sleeps there) and killed; the next run of the window is the next stage's, so that the five kills
cost one chain of runs, and a last run finishes the window. After each kill: no half-written version, the
embedded Prefect server the run started is gone, and the next run takes the dead run's lock over at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from driftwarden.flows import store
from tests.reliability.conftest import Observed, assert_as_table
from tests.reliability.faults import Receiver, free_port
from tests.streams import agrawal_config, write_agrawal_sources

pytestmark = pytest.mark.slow  # whole monitoring runs, end to end

WINDOW_END = "2025-02-21"
"""The day after the agrawal stream's concept change: an accuracy breach, so the run alerts (24 rows)."""
STAGES = ("reading", "validating", "storing", "reports", "alerting")
HOLDS_LOCK = {"reading", "validating", "storing"}
"""The stages before the lock is let go: the next run finds the dead run's lock."""


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the run's embedded Prefect server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _kill_at(stage: str, cmd: list[str], env: dict[str, str], home: Path, log: Path) -> tuple[int, str]:
    """Start the run held at ``stage``, ``kill -9`` it there; returns its pid and what it printed on stderr."""
    marker = home / f"paused-at-{stage}"
    with log.open("w") as err:
        proc = subprocess.Popen(
            cmd, env={**env, "DRIFTWARDEN_TEST_PAUSE_AT": stage}, stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        deadline = time.monotonic() + 180
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists() and proc.poll() is None, f"never held at {stage}: {log.read_text()[-3000:]}"
        assert marker.read_text() == str(proc.pid)
        server = _children(proc.pid)
        assert server, "the run started no embedded Prefect server"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    marker.unlink()
    deadline = time.monotonic() + 30  # SIGTERM on its parent's death; uvicorn stops within seconds
    while any(_alive(p) for p in server) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in server if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"the embedded Prefect server of the run killed while {stage} outlived it"
    return proc.pid, log.read_text()


def _complete(engine: sa.Engine) -> list[tuple[int, bool, str, int]]:
    """Every stored version of the window: (version, superseded, status, its metric rows)."""
    runs, metrics = store.runs, store.metrics
    count = sa.select(sa.func.count()).where(metrics.c.run_id == runs.c.id).scalar_subquery()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(runs.c.run_version, runs.c.superseded, runs.c.status, count)).all()
    return sorted((int(v), bool(s), str(st), int(n)) for v, s, st, n in rows)


@pytest.mark.case("fault.sigkill_at_each_stage")
def test_a_run_killed_at_each_stage_leaves_nothing_half_done(tmp_path, tally):
    port = free_port()
    hook = {"ops": {"type": "webhook", "url": "${DW_FAULTS_HOOK}", "attempts": 1}}
    config = write_agrawal_sources(tmp_path / "agrawal", config=agrawal_config(alerts={"channels": hook}))
    home = tmp_path / "home"
    env = {**os.environ, "DRIFTWARDEN_HOME": str(home), "PREFECT_HOME": str(tmp_path / "prefect")}
    env["DW_FAULTS_HOOK"] = f"http://127.0.0.1:{port}/hook"
    for key in ("PREFECT_API_URL", "DRIFTWARDEN_STORE_URL", "DRIFTWARDEN_TEST_PAUSE_AT"):
        env.pop(key, None)  # each run starts its embedded Prefect server: the kill must take it down too
    cmd = [sys.executable, "-m", "driftwarden.flows.cli", "run", "--config", str(config)]
    cmd += ["--window-end", WINDOW_END, "--json"]
    receiver = Receiver(port)
    engine: sa.Engine | None = None
    try:
        killed: int | None = None
        for n, stage in enumerate(STAGES):
            pid, said = _kill_at(stage, cmd, env, home, tmp_path / f"{stage}.log")
            if killed is not None and STAGES[n - 1] in HOLDS_LOCK:  # the dead run's lock, taken over at once
                assert "took over the lock" in said and f":{killed}:" in said, said[-3000:]
            killed = pid
            if n:
                tally.add("fault", 1)
            engine = engine or store.open_store(f"sqlite:///{home / 'store.db'}")
            versions = _complete(engine)
            assert all(n_metrics > 0 for *_, n_metrics in versions), (stage, versions)  # none half-written
            stored = {"reading": 0, "validating": 0, "storing": 0, "reports": 1, "alerting": 2}[stage]
            assert len(versions) == stored, (stage, versions)

        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    finally:
        receiver.stop()
    assert engine is not None
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1 and lines[0]["status"] == "breach", done.stdout[-2000:] + done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]  # a breach is a verdict: exit 1 is for a failed run
    assert "Traceback" not in done.stderr, done.stderr[-3000:]

    versions = _complete(engine)
    current = [v for v in versions if not v[1]]
    assert all(n_metrics > 0 for *_, n_metrics in versions), versions
    assert current == [(lines[0]["run_version"], False, "breach", current[0][3])], versions
    tally.add("runs_lost", 1 - len(current))
    tally.add("duplicate_results", max(0, len(current) - 1))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.run_locks)).scalar() == 0
        queued = conn.execute(sa.select(store.outbox.c.id, store.outbox.c.payload, store.outbox.c.status)).all()

    # Every alert queued was delivered at least once; the one delivered but not marked sent when the run was
    # killed went again with the same key, which the receiver drops
    assert queued and all(status == "sent" for _, _, status in queued), queued
    keys = {json.loads(payload).get("idempotency_key") or f"dw-agrawal-outbox-{i}" for i, payload, _ in queued}
    got = Counter(body.get("idempotency_key") for body in receiver.got)
    assert None not in got, receiver.got
    lost = len(keys - set(got))
    tally.add("alerts_lost", lost)
    assert lost == 0, (keys, got)
    assert got.most_common(1)[0][1] >= 2  # the resend after the kill while alerting, under its key
    # After the receiver drops repeated keys: one alert per thing said (model, window, kind of message)
    said = Counter(
        (b.get("model"), b.get("window_start"), b.get("kind"), b.get("status"))
        for b in {b["idempotency_key"]: b for b in receiver.got}.values()
    )
    doubled = sum(n - 1 for n in said.values())
    tally.add("alerts_doubled", doubled)
    assert doubled == 0, receiver.got
    assert_as_table(
        "fault.sigkill_at_each_stage", Observed("survives", "killed at each stage; nothing half done"), tally
    )
