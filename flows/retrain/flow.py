"""The retraining flow: train a challenger on data chosen by the cause, judge it honestly against the champion on
fresh held-out windows it never trained on, and promote it only if it is proven better."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from driftwarden.checks.shadow import screen_on_holdout
from driftwarden.checks.training import PlanError
from driftwarden.config.loader import ConfigError
from driftwarden.config.settings import get_settings
from driftwarden.flows import runtime
from driftwarden.flows.registry.versions import Registry
from driftwarden.flows.retrain import shadow, stress
from driftwarden.flows.retrain import tasks as retrain_tasks
from driftwarden.flows.store import locks


def _run_name() -> str:
    from prefect.runtime import flow_run

    return f"{Path(flow_run.parameters['config_path']).stem}-retrain"


@flow(name="retrain-model", flow_run_name=_run_name, timeout_seconds=6 * 3600)
def retrain_model(
    config_path: str, reason: str | None = None, as_of: str | None = None, trigger: str = "manual"
) -> dict[str, Any]:
    """Retrain one model. ``as_of`` (default: now) is the moment whose data is used: a replay of history
    retrains with what was known then. Returns the attempt record (also kept in the registry)."""
    try:
        cfg = runtime.load_config(config_path)
        as_of_ts = runtime.resolve_as_of(as_of)
    except (ConfigError, ValueError) as exc:
        raise retrain_tasks.RetrainFailed({"config": config_path, "outcome": "failed", "error": str(exc)}) from exc
    store_url = get_settings().resolved_store_url()
    registry = Registry(cfg)
    attempt = retrain_tasks.new_attempt(cfg, registry, reason, trigger, as_of_ts)
    lock = None
    try:
        lock = retrain_tasks.lock_retraining(cfg, store_url)  # one retraining of a model at a time: WindowBusy
        context = retrain_tasks.breach_context(cfg, store_url, as_of_ts)
        history = retrain_tasks.read_labelled_history(cfg, as_of_ts, context)
        failures = retrain_tasks.failure_rows(cfg, store_url, as_of_ts)
        plan = retrain_tasks.plan(cfg, history, context, failures)
        challenger = retrain_tasks.train_challenger(cfg, plan)
        comparison = retrain_tasks.judge(cfg, registry, plan, challenger)  # may refuse: PlanError
        # A challenger that leads on the holdout waits for windows that did not choose the champion's low score
        waits = None
        if cfg.retrain.promotion.shadow_windows and registry.champion() is not None:
            waits = shadow.shadow_terms(cfg, list(plan.holdout_windows))
            comparison = screen_on_holdout(comparison)
        stressed = stress.stress_before_promotion(cfg, registry, plan, challenger, comparison)  # a gate may refuse
        comparison = stressed.comparison
        version = retrain_tasks.register_challenger(cfg, registry, challenger, plan, comparison, attempt)
        retrain_tasks.keep_training_samples(
            cfg, store_url, plan
        )  # retention keeps them while a model trained on them exists
        shadow.supersede_pending(registry, as_of_ts)
        promote_now = comparison.promote and waits is None
        export_error = retrain_tasks.promote(cfg, registry, version, comparison) if promote_now else None
        attempt = retrain_tasks.finish(attempt, context, plan, comparison, version, waits)
        attempt = stress.record_stress(attempt, stressed, registry, version)
        if export_error:
            attempt["export_error"] = export_error
    except (PlanError, locks.WindowBusy) as exc:
        attempt = {**attempt, "outcome": "refused", "reasons": [str(exc)]}
    except Exception as exc:  # a failed or crashed training never touches the champion
        attempt = {**attempt, "outcome": "failed", "error": f"{type(exc).__name__}: {exc}"}
    finally:
        locks.release_quietly(store_url, lock)
    registry.record_attempt(attempt)
    get_run_logger().info("%s retrain: %s; %s", cfg.name, attempt["outcome"], "; ".join(attempt.get("reasons", [])))
    if attempt["outcome"] == "failed":
        raise retrain_tasks.RetrainFailed(attempt)
    return attempt
