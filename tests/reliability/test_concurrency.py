"""Many ``driftwarden run`` processes of one model and one window at once, on SQLite and on PostgreSQL: one
proceeds, the others refuse (exit code and a message saying another run holds the window), and exactly one
version of the window is stored. The processes import the CLI first and then wait for one signal, so that they
reach the window's lock together (not one after the other as their imports finish): one process imports the
CLI and forks them, as a pre-forking server does, so that ten runs do not cost ten imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from driftwarden.flows import store
from tests.reliability.conftest import Observed, assert_as_table
from tests.streams import write_agrawal_sources

pytestmark = pytest.mark.slow  # whole monitoring runs, end to end

STARTER = """
import json, os, sys, time
from driftwarden.flows.cli.app import main  # imported once, then forked: each child is a process of its own
folder, n, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
children = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        out = os.open(f"{folder}/out-{i}", os.O_WRONLY | os.O_CREAT)
        err = os.open(f"{folder}/err-{i}", os.O_WRONLY | os.O_CREAT)
        os.dup2(out, 1)
        os.dup2(err, 2)
        while not os.path.exists(f"{folder}/go"):
            time.sleep(0.01)
        sys.argv = ["driftwarden", *args]
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    children.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
print(json.dumps(codes))
"""


def _env(home: Path, tmp_path: Path, store_url: str | None) -> dict[str, str]:
    """Its own home and store; the tests' Prefect server (none of its own to start in each process)."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "DRIFTWARDEN_HOME": str(home), "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("DRIFTWARDEN_STORE_URL", None)
    if store_url:
        env["DRIFTWARDEN_STORE_URL"] = store_url
    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    return env


def _race(config: Path, window_end: str, n: int, env: dict[str, str], tmp_path: Path) -> list[tuple[int, str, str]]:
    """``n`` runs of one window started together; (exit code, stdout, stderr) of each."""
    folder = tmp_path / f"race-{window_end}-{n}"
    folder.mkdir()
    args = ["run", "--config", str(config), "--window-end", window_end, "--json"]
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(folder), str(n), *args], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(folder.glob("err-*"))) < n and starter.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # every child forked and waiting
    (folder / "go").touch()
    out, err = starter.communicate(timeout=240)
    assert starter.returncode == 0, err[-3000:]
    codes = json.loads(out.strip().splitlines()[-1])
    return [(codes[i], (folder / f"out-{i}").read_text(), (folder / f"err-{i}").read_text()) for i in range(n)]


def _last_json(text: str) -> dict[str, Any]:
    """The run's JSON line (a log line without its newline may precede it on the same line)."""
    found: dict[str, Any] = {}
    for line in text.splitlines():
        at = line.find('{"model"')
        if at >= 0:
            try:
                found = json.loads(line[at:])
            except ValueError:
                continue
    return found


def _refused(summary: dict[str, Any]) -> bool:
    """A run that says another run has (or had meanwhile) the window, and stored nothing itself."""
    error = summary.get("error") or ""
    said = "is being monitored by another run" in error or "was monitored by another run meanwhile" in error
    # Ten flow runs created at once can find the tests' one Prefect server busy (503 after the client's
    # retries): such a run stops before the window's lock and stores nothing, which is what matters here
    busy = "Service Unavailable" in error
    return summary.get("status") == "failed" and (said or busy) and summary.get("run_version") is None


def _same_window(store_url: str | None, dw_home: Path, tmp_path: Path, tally: Any) -> Observed:
    config = write_agrawal_sources(tmp_path / "agrawal")
    env = _env(dw_home, tmp_path, store_url)
    url = store_url or f"sqlite:///{dw_home / 'store.db'}"
    problems: list[str] = []
    for n, window_end in ((2, "2025-02-21"), (10, "2025-02-22")):
        results = _race(config, window_end, n, env, tmp_path)
        tally.add("concurrent_runs", n)
        proceeded = [r for r in results if r[0] == 0]
        refused = [r for r in results if r[0] == 1 and _refused(_last_json(r[1]))]
        start = pd.Timestamp(window_end) - pd.Timedelta(days=1)
        versions = store.all_versions(store.open_store(url), "agrawal", store.utc(start.tz_localize("UTC")))
        tally.add("duplicate_results", max(0, len(versions) - 1))
        tally.add("runs_lost", 0 if len(versions) >= 1 else 1)
        if len(proceeded) != 1 or len(refused) != n - 1 or len(versions) != 1:
            odd = [
                (code, {k: _last_json(out).get(k) for k in ("status", "run_version", "error")}, out[-300:], err[-300:])
                for code, out, err in results
                if (code, out, err) not in refused
            ]
            problems.append(
                f"{n} runs: {len(proceeded)} proceeded, {len(refused)} refused, {len(versions)} versions; {odd}"
            )
        else:
            [(_, out, _)] = proceeded
            assert _last_json(out)["status"] != "failed"
    return Observed("survives" if not problems else "raced", "\n".join(problems))


@pytest.mark.case("conc.same_window_sqlite")
def test_runs_of_one_window_at_once_on_sqlite(prefect_server, dw_home, tmp_path, tally):
    assert_as_table("conc.same_window_sqlite", _same_window(None, dw_home, tmp_path, tally), tally)


@pytest.mark.case("conc.same_window_postgres")
@pytest.mark.postgres
def test_runs_of_one_window_at_once_on_postgresql(prefect_server, postgres_url, dw_home, tmp_path, tally):
    assert_as_table("conc.same_window_postgres", _same_window(postgres_url, dw_home, tmp_path, tally), tally)
