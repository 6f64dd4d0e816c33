"""What the monitoring run calls of retraining: the retrain policy's decision after a window, its record as a
metric row, and starting ``retrain-model`` (through its deployment, or as a subflow on the embedded default)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import pandas as pd

from driftwarden.checks.policy import RetrainDecision, WindowState, decide_retrain, needs_older_windows
from driftwarden.checks.windows import Window
from driftwarden.config.model import ModelConfig
from driftwarden.flows import store
from driftwarden.flows.registry.versions import Registry
from driftwarden.flows.retrain.flow import retrain_model
from driftwarden.flows.retrain.tasks import RetrainFailed, window_states
from driftwarden.flows.runtime import PURE, step

log = logging.getLogger(__name__)


def decision_json(decision: RetrainDecision) -> dict[str, Any]:
    out = asdict(decision)
    out["since"] = None if decision.since is None else str(decision.since)
    out["windows"] = [str(w) for w in decision.windows]
    return out


@step(PURE)
def retrain_decision(
    cfg: ModelConfig,
    store_url: str,
    window: Window,
    kpis: Any,
    causes: Sequence[str],
    as_of: pd.Timestamp,
    dataset_drift: bool | None = None,
) -> RetrainDecision:
    """The policy's verdict after this window: the stored earlier windows plus this one (not yet stored;
    ``dataset_drift``: whether its drift met the dataset rule). A re-run of a window older than the newest
    stored one never starts a retrain."""
    newer = store.latest_runs(store.open_store(store_url), cfg.name, start=store.utc(window.end))
    if not newer.empty:
        return RetrainDecision(False, "a re-run of an earlier window does not retrain (newer windows are stored)")
    current = WindowState(
        start=store.utc(window.start),
        end=store.utc(window.end),
        causes=tuple(causes),
        mature=bool(kpis.mature),
        breached=tuple(v.metric for v in kpis.breached),
        labelled=int(kpis.labelled),
        dataset_drift=dataset_drift,
    )
    registry = Registry(cfg)
    attempts = registry.attempts()
    pending = registry.pending(attempts)
    if pending is not None:  # decided by a later run on its shadow windows; a second challenger would race it
        until = str((pending.get("shadow") or {}).get("deadline", ""))[:16]
        return RetrainDecision(
            False, f"v{pending.get('version')} waits for its shadow windows (at the latest until {until} UTC)"
        )
    last = registry.last_attempt_time(attempts)
    names = [k.metric for k in cfg.kpis]
    read = 32  # the newest windows since the last retrain, more only while the breach streak reaches past them
    while True:
        states = window_states(cfg, store_url, store.utc(window.start), last=read, ended_after=last)
        if len(states) < read or not needs_older_windows([*states, current], cfg.retrain, names):
            break
        read *= 4
    return decide_retrain([*states, current], cfg.retrain, names, store.utc(as_of), last)


def retrain_rows(decision: RetrainDecision, auto: bool) -> list[dict[str, Any]]:
    """The decision as a metric row of the run, so that the run record says why (or why not)."""
    return [
        {
            "kind": "retrain",
            "name": "decision",
            "value": 1.0 if decision.retrain and auto else 0.0,
            "passed": None,
            "details": {**decision_json(decision), "auto": auto},
        }
    ]


def start_retraining(
    model: str, config_path: str, decision: RetrainDecision, as_of: pd.Timestamp, wait: bool = False
) -> dict[str, Any]:
    """Run ``retrain-model``: through its deployment when this run came from one (a worker picks it up; with
    ``wait``, until it ends), else as a subflow of this run (the embedded default: it ends before this does)."""
    from prefect.runtime import deployment

    reason = f"automatic: {decision.reason}"
    if deployment.id is not None:
        from prefect.deployments import run_deployment

        try:
            run = run_deployment(
                f"retrain-model/{model}",
                parameters={
                    "config_path": config_path,
                    "reason": reason,
                    "as_of": as_of.isoformat(),
                    "trigger": "policy",
                },
                timeout=None if wait else 0,
            )
        except Exception as exc:  # the monitoring result is stored; a retrain that cannot start is said, not raised
            log.error("%s: retrain-model/%s could not be started: %s", model, model, exc)
            return {"outcome": "failed", "error": f"could not start retrain-model/{model}: {type(exc).__name__}: {exc}"}
        if wait:
            state = getattr(run, "state", None)
            outcome = "finished" if state is None else str(state.name).lower()
            return {"outcome": outcome, "flow_run_id": str(getattr(run, "id", ""))}
        return {"outcome": "started", "flow_run_id": str(getattr(run, "id", ""))}
    try:
        return retrain_model(config_path, reason=reason, as_of=as_of.isoformat(), trigger="policy")
    except RetrainFailed as exc:
        return exc.attempt
    except Exception as exc:  # e.g. the registry unreachable before an attempt could be recorded: said, not raised
        log.error("%s: retrain-model could not run: %s", model, exc)
        return {"outcome": "failed", "error": f"retrain-model could not run: {type(exc).__name__}: {exc}"}


def attempt_brief(attempt: dict[str, Any]) -> dict[str, Any]:
    """What a window's JSON says of the retraining it started."""
    keys = (
        "outcome", "flow_run_id", "version", "champion_before", "champion_after", "metric", "p_value", "reasons",
        "error",
    )  # fmt: skip
    return {k: attempt.get(k) for k in keys if k in attempt}
