"""Scheduled runs: which missed windows to monitor before the scheduled one (read from the store)."""

from __future__ import annotations

import pandas as pd

from driftwarden.checks.windows import CatchUp, Window, missed_windows
from driftwarden.config.model import ModelConfig
from driftwarden.flows import store
from driftwarden.flows.runtime import IO, step


def plan_catch_up(cfg: ModelConfig, store_url: str, window: Window) -> CatchUp:
    """Windows missed since the last successful run before ``window`` (failed ones count as missed)."""
    before = store.latest_runs(store.open_store(store_url), cfg.name, end=store.utc(window.start))
    ok = before[before["status"] != "failed"]
    if ok.empty:
        return CatchUp(())
    last_end = pd.Timestamp(ok["window_end"].max()).tz_localize("UTC")
    done = {pd.Timestamp(t).tz_localize("UTC") for t in ok["window_start"]}
    return missed_windows(last_end, done, window, cfg.window_length, cfg.window.timezone, cfg.max_missed_windows)


@step(IO)
def find_missed_windows(cfg: ModelConfig, store_url: str, window: Window) -> CatchUp:
    return plan_catch_up(cfg, store_url, window)
