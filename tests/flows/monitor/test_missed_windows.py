"""A scheduled run (no window end) monitors the window whose data has landed, after first catching up the
windows missed since the last successful run, at most ``max_missed_windows`` of them, and says so."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from driftwarden.checks.windows import scheduled_window
from driftwarden.config.loader import load_model_config
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from tests.streams import agrawal_config, write_agrawal_sources

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_a_scheduled_run_catches_up_missed_windows_first(tmp_path, dw_home):
    # A lateness that puts the scheduled window on 2025-02-24, inside the stream's data.
    days = (pd.Timestamp.now(tz="UTC") - pd.Timestamp("2025-02-25T00:00Z")).days
    overrides = {"data_lateness": f"{days}d", "max_missed_windows": 2}
    config = write_agrawal_sources(tmp_path / "agrawal", config=agrawal_config(**overrides))
    cfg = load_model_config(config)
    assert scheduled_window(pd.Timestamp.now(tz="UTC"), cfg.window_length, "UTC", cfg.lateness).start == (
        pd.Timestamp("2025-02-24T00:00Z")
    )
    backfill = ["backfill", "--config", str(config), "--start", "2025-02-19", "--end", "2025-02-21", "--json"]
    assert runner.invoke(app, backfill, catch_exceptions=False).exit_code == 0

    # 2025-02-21, -22 and -23 were missed: the newest two are monitored first, the oldest is left and said.
    result = runner.invoke(app, ["run", "--config", str(config), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [d["window_start"][:10] for d in lines] == ["2025-02-22", "2025-02-23", "2025-02-24"]
    assert [d["trigger"] for d in lines] == ["missed", "missed", "run"]
    assert all(d["status"] != "failed" and d["rows"] > 10 for d in lines), lines
    assert "caught up 2 missed window(s) from 2025-02-22T00:00:00+00:00 to 2025-02-24T00:00:00+00:00" in result.stderr
    left = f"1 older missed window(s) were left (max_missed_windows): run `driftwarden backfill --config {config} "
    assert left in result.stderr, result.stderr

    again = runner.invoke(app, ["run", "--config", str(config), "--json"], catch_exceptions=False)
    assert len([line for line in again.stdout.splitlines() if line.startswith("{")]) == 1  # nothing missed now
    assert "caught up" not in again.stderr
    runs = store.latest_runs(store.open_store(f"sqlite:///{dw_home.resolve() / 'store.db'}"), "agrawal")
    assert sorted(runs.loc[runs["trigger"] == "missed", "window_start"].dt.day) == [22, 23]


def test_a_run_picked_up_late_monitors_the_window_its_schedule_meant(tmp_path, dw_home):
    """A worker that was down starts the run two days after its scheduled time (or a retry starts it
    again): the window is the one that had landed by the scheduled time, not by the moment it started."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow
    from prefect.states import Scheduled

    from driftwarden.flows.monitor.flow import monitor_model

    days = (pd.Timestamp.now(tz="UTC") - pd.Timestamp("2025-02-25T00:00Z")).days
    config = write_agrawal_sources(tmp_path / "agrawal", config=agrawal_config(data_lateness=f"{days}d"))
    meant = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=2)
    with get_client(sync_client=True) as client:
        late = client.create_flow_run(
            monitor_model, parameters={"config_path": str(config)}, state=Scheduled(scheduled_time=meant)
        )
    summary = run_flow(monitor_model, flow_run=late, parameters={"config_path": str(config)})
    assert summary["window_start"][:10] == "2025-02-22", summary  # now's window would be 2025-02-24
    assert summary["status"] != "failed" and summary["rows"] > 10, summary
