"""A backfill: a model's history replayed window by window inside one flow run.

Each window goes through the same steps as a nightly run (``monitor_window``), in time order, with the labels
known at its end, so the stored versions, verdicts, metrics and failure samples are those of one run per
window. What one flow run saves is the fixed cost of each: a flow run and its task runs, the imports, the
GX suites and the reference profile are set up once, not once a window.

Settled behaviour:
- a window that fails is stored as failed (as a nightly run's failure is) and the replay goes on;
- the flow's timeout scales with the number of windows (``timeout_for``);
- a killed backfill resumes where it stopped when the same command is run again: the end of the last window
  it replayed is kept in ``<home>/backfills/<model>.json`` until the replay completes;
- a retrain started mid-replay ends before the next window is replayed (a subflow on the embedded default;
  through its deployment, it is waited for), so later windows are scored by the champion it leaves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger

from driftwarden.checks.windows import Window, wall_shift, windows_between
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import runtime, store
from driftwarden.flows.monitor.flow import MonitorFailed, monitor_window, refresh_reports
from driftwarden.flows.monitor.label_catchup import catch_up
from driftwarden.flows.monitor.tasks import load_window_json

BASE_TIMEOUT_S = 1800
PER_WINDOW_TIMEOUT_S = 600
"""A window's share of the flow's timeout: a nightly run's hung read gives up after 3 h; a replay of
hundreds of windows gets 10 minutes a window on top of half an hour."""

Listener = Callable[[str, dict[str, Any]], None]
"""Called with ("stored", the run's JSON) as each window's run ends, and ("final", the window's JSON) once no
later window of the replay can re-score it (see ``Replay``)."""
_listeners: list[Listener] = []


@contextmanager
def observe(listener: Listener) -> Iterator[None]:
    """Tell ``listener`` of the replay in this process as it happens (the CLI's progress and lines)."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def _tell(kind: str, summary: dict[str, Any]) -> None:
    for listener in list(_listeners):
        listener(kind, summary)


def timeout_for(windows: int) -> int:
    return BASE_TIMEOUT_S + PER_WINDOW_TIMEOUT_S * windows


@dataclass
class Checkpoint:
    """How far a backfill of one range got: windows ending at or before ``done_until`` were replayed."""

    path: Path
    key: dict[str, Any]
    done_until: pd.Timestamp | None = None

    @classmethod
    def load(cls, cfg: ModelConfig, start: pd.Timestamp, end: pd.Timestamp, labels_now: bool) -> Checkpoint:
        path = get_settings().home / "backfills" / f"{cfg.name}.json"
        key = {"start": start.isoformat(), "end": end.isoformat(), "labels_now": labels_now}
        done = None
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = None
        if isinstance(saved, dict) and saved.get("key") == key and saved.get("done_until"):
            done = pd.Timestamp(saved["done_until"])
        return cls(path, key, done)

    def advance(self, window_end: pd.Timestamp) -> None:
        self.done_until = window_end
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": self.key, "done_until": window_end.isoformat()}))
        tmp.replace(self.path)  # a kill mid-write leaves the previous checkpoint whole

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)


class Replay:
    """Tells each window's JSON once no later window of the replay can re-score it: when a later window's run
    (that did not fail) knew the labels as of a label horizon past its end, or at the end. One line a window,
    as it stands at the end of the replay, and in time order: what a window-by-window backfill tells once all
    its runs are done."""

    def __init__(self, cfg: ModelConfig, store_url: str):
        self._cfg, self._url = cfg, store_url
        self._open: list[tuple[Window, dict[str, Any]]] = []
        self.told: list[dict[str, Any]] = []

    def stored(self, window: Window, result: dict[str, Any], as_of: pd.Timestamp) -> None:
        """``window``'s run, which knew the labels as of ``as_of``: the windows whose labels' horizon had passed
        by then are final (that run's catch-up was their last)."""
        self._open.append((window, result))
        if result.get("status") == "failed":  # its catch-up may not have run: the next window's does it
            return
        while self._open and wall_shift(self._open[0][0].end, self._cfg.horizon) <= as_of:
            self._tell(*self._open.pop(0))

    def close(self) -> None:
        while self._open:
            self._tell(*self._open.pop(0))

    def _tell(self, window: Window, result: dict[str, Any]) -> None:
        current = as_it_stands(self._cfg, self._url, window, result)
        self.told.append(current)
        _tell("final", current)


def as_it_stands(cfg: ModelConfig, store_url: str, window: Window, result: dict[str, Any]) -> dict[str, Any]:
    """A window's JSON as the store holds it now (later runs re-score earlier windows), with the retraining its
    own run started; the run's own account when nothing was stored (the store is down)."""
    try:
        current = load_window_json(cfg, store_url, store.utc(window.start))
    except Exception:
        return result
    attempt = (result.get("retrain") or {}).get("attempt")
    if attempt and current.get("retrain") is not None:
        current["retrain"] = {**current["retrain"], "attempt": attempt}
    return current


def final_catch_up(
    cfg: ModelConfig, store_url: str, until: pd.Timestamp, now: pd.Timestamp, labels_now: bool
) -> list[dict[str, Any]]:
    """The label catch-up the last windows of a replay are owed, as of the earlier of now and the end of the
    last one's horizon (every label known now, with ``labels_now``); a failure is logged, never fatal: the
    windows stand as replayed and the next run catches them up."""
    as_of = now if labels_now else min(now, wall_shift(until, cfg.horizon))
    try:
        return catch_up(cfg, store_url, until, as_of)
    except Exception as exc:
        get_run_logger().warning("%s: the catch-up after the replay failed: %s: %s", cfg.name, type(exc).__name__, exc)
        return []


@flow(name="catch-up-labels")
def catch_up_labels(config_path: str, until: str, labels_now: bool = False) -> list[dict[str, Any]]:
    """``final_catch_up`` as a flow run of its own: the end of a window-by-window backfill."""
    cfg = runtime.load_config.fn(config_path)
    with runtime.inline_steps():
        end = pd.Timestamp(until).tz_convert(cfg.window.timezone)  # the zone's DST, not the string's fixed offset
        return final_catch_up(cfg, get_settings().resolved_store_url(), end, pd.Timestamp.now(tz="UTC"), labels_now)


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    return f"{Path(params['config_path']).stem}-backfill-{params['start'][:10]}-{params['end'][:10]}"


def plan(cfg: ModelConfig, start: str, end: str) -> list[Window]:
    tz = cfg.window.timezone
    return windows_between(
        runtime.parse_time(start, "start", tz), runtime.parse_time(end, "end", tz), cfg.window_length, tz
    )


@flow(name="backfill-model", flow_run_name=_run_name)
def backfill_model(
    config_path: str,
    start: str,
    end: str,
    labels_now: bool = False,
    send_alerts: bool | None = None,
    resume: bool = True,
) -> list[dict[str, Any]]:
    """Replay every complete window in [start, end) in time order, labels as known at each window's end
    (``labels_now``: every label known now). Returns each window's JSON as it stands at the end; windows a
    stopped replay of the same range already did are not replayed again (``resume``)."""
    cfg = runtime.load_config.fn(config_path)
    windows = plan(cfg, start, end)
    store_url = get_settings().resolved_store_url()
    checkpoint = Checkpoint.load(cfg, windows[0].start, windows[-1].end, labels_now) if windows else None
    done_until = checkpoint.done_until if checkpoint is not None and resume else None
    log = get_run_logger()
    if done_until is not None:
        log.warning("%s: resuming a stopped backfill after %s", cfg.name, done_until)
    replay = Replay(cfg, store_url)
    now = pd.Timestamp.now(tz="UTC")
    todo = [w for w in windows if done_until is None or w.end > done_until]
    with runtime.inline_steps():
        for w in windows:
            as_of = now if labels_now else w.end
            if w not in todo:
                replay.stored(w, {}, as_of)
                continue
            last = w == windows[-1]
            try:
                result = monitor_window(
                    config_path, cfg, store_url, w, as_of, "backfill", send_alerts,
                    evidently=last, await_retrain=True, artifact=last,
                )  # fmt: skip
            except MonitorFailed as exc:  # stored as failed; the replay goes on
                result = exc.summary
            _tell("stored", result)
            replay.stored(w, result, as_of)
            if checkpoint is not None:
                checkpoint.advance(w.end)
        if windows:
            final_catch_up(cfg, store_url, windows[-1].end, now, labels_now)
            refresh_reports(cfg, store_url, config_path, None)  # once, not once a window
    replay.close()
    if checkpoint is not None:
        checkpoint.finish()
    failed = sum(s["status"] == "failed" for s in replay.told)
    log.info("%s: %d windows replayed (%d failed)", cfg.name, len(todo), failed)
    return replay.told


def backfill(
    config_path: str,
    start: str,
    end: str,
    labels_now: bool = False,
    send_alerts: bool | None = None,
    resume: bool = True,
) -> list[dict[str, Any]]:
    """``backfill-model`` with a timeout for its number of windows."""
    cfg = runtime.load_config.fn(config_path)
    n = len(plan(cfg, start, end))
    return backfill_model.with_options(timeout_seconds=timeout_for(n))(
        config_path, start, end, labels_now, send_alerts, resume
    )
