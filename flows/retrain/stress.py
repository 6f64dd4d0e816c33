"""Stress tests in the world: the ``stress-model`` flow (a version, the champion beside it, on the holdout a
retrain would use now), and the step ``retrain-model`` takes after judging a challenger and before registering
or promoting it. Advisory unless ``retrain.stress.gates`` are declared; the robustness table goes with the
attempt record and beside the version in the registry, with the perturbed rows that hurt most (synthetic rows
from the holdout: they are kept there, never in the failure log retraining reads)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task

from driftwarden.checks.champion import Comparison
from driftwarden.checks.stress import StressResult, run_suite
from driftwarden.checks.training import PlanError, TrainingPlan
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import runtime
from driftwarden.flows.registry.trust import RegistryError
from driftwarden.flows.registry.versions import Registry, Version
from driftwarden.flows.retrain import tasks as retrain_tasks
from driftwarden.flows.runtime import PURE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stressed:
    """The stress step's outcome inside a retrain: the comparison as the gates left it."""

    comparison: Comparison
    result: StressResult | None = None
    error: str | None = None
    refused: bool = False
    """A gate turned a promotion into a refusal."""


@task(**PURE)
def stress_suite(cfg: ModelConfig, models: dict[str, Any], holdout: pd.DataFrame) -> StressResult:
    return run_suite(cfg, models, holdout)


def stress_before_promotion(
    cfg: ModelConfig, registry: Registry, plan: TrainingPlan, challenger: Any, comparison: Comparison
) -> Stressed:
    """The champion and the challenger on the perturbed holdout. Without gates a failure here is logged and the
    retrain goes on (advisory); with gates it refuses the promotion (the gates could not be checked)."""
    st = cfg.retrain.stress
    if not st.enabled:
        return Stressed(comparison)
    try:
        champion = registry.champion()
        models = {} if champion is None else {"champion": registry.load(champion.number)}
        result = stress_suite(cfg, {**models, "challenger": challenger}, plan.holdout)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("%s: the stress tests failed: %s", cfg.name, error)
        if not (st.gates and comparison.promote):
            return Stressed(comparison, error=error)
        why = f"the stress gates could not be evaluated ({error}), so the challenger is not promoted"
        return Stressed(
            replace(comparison, promote=False, reasons=(why, *comparison.reasons)), error=error, refused=True
        )
    gate = result.refused_by
    if gate is None or not comparison.promote:
        return Stressed(comparison, result)
    why = f"the challenger is {gate.reason()}"
    return Stressed(replace(comparison, promote=False, reasons=(why, *comparison.reasons)), result, refused=True)


def record_stress(
    attempt: dict[str, Any], stressed: Stressed, registry: Registry, version: Version | None
) -> dict[str, Any]:
    """The attempt with its robustness table (``stress``) and, when a gate refused, ``outcome: refused`` and
    ``refused_by``; the table and the worst rows are also kept beside the challenger's version."""
    if stressed.result is None and stressed.error is None:
        return attempt
    record: dict[str, Any] = {"error": stressed.error} if stressed.result is None else stressed.result.record()
    out = {**attempt, "stress": record}
    if stressed.refused:
        gate = record.get("refused_by") or {"reason": stressed.error}
        out = {**out, "outcome": "refused", "refused_by": gate, "champion_after": attempt.get("champion_before")}
    if version is not None:
        rows = None if stressed.result is None else stressed.result.worst
        registry.write_stress(version.number, record, rows)
    return out


def _run_name() -> str:
    from prefect.runtime import flow_run

    return f"{Path(flow_run.parameters['config_path']).stem}-stress"


def holdout_now(cfg: ModelConfig, as_of: pd.Timestamp) -> tuple[pd.DataFrame, tuple[Any, ...]]:
    """The holdout a retrain would use as of ``as_of`` (the most recent mature labelled windows), and its
    windows. Only the holdout is wanted: how many training rows there are does not matter here."""
    store_url = get_settings().resolved_store_url()
    training = cfg.retrain.training.model_copy(update={"min_rows": 1, "include_reference": False})
    quiet = cfg.model_copy(update={"retrain": cfg.retrain.model_copy(update={"training": training})})
    context = retrain_tasks.breach_context.fn(quiet, store_url, as_of)
    history = retrain_tasks.read_labelled_history.fn(quiet, as_of, context)
    none = pd.DataFrame(columns=[*cfg.columns.features, cfg.columns.target, cfg.columns.id, cfg.columns.timestamp])
    try:
        plan = retrain_tasks.plan.fn(quiet, history, context, none)
    except PlanError as exc:
        raise PlanError(f"no holdout to stress the model on: {exc}") from exc
    return plan.holdout, plan.holdout_windows


@flow(name="stress-model", flow_run_name=_run_name, timeout_seconds=3600)
def stress_model(config_path: str, version: int | None = None, as_of: str | None = None) -> dict[str, Any]:
    """Stress a registered version (default: the champion), the champion beside it, on the holdout a retrain
    would use now; the result is kept beside the version in the registry and returned."""
    cfg = runtime.load_config(config_path)
    as_of_ts = runtime.resolve_as_of(as_of)
    registry = Registry(cfg)
    champion = registry.champion()
    number = version if version is not None else (None if champion is None else champion.number)
    if number is None:
        raise RegistryError(f"model {cfg.name} has no champion yet: register one, or name a version with --version")
    registry.version(number)  # an unknown version is refused before any data is read
    holdout, windows = holdout_now(cfg, as_of_ts)
    models: dict[str, Any] = {}
    labels: dict[str, str] = {}
    if champion is not None:
        models["champion"], labels["champion"] = registry.load(champion.number), f"v{champion.number}"
    if champion is None or number != champion.number:
        models["challenger"], labels["challenger"] = registry.load(number), f"v{number}"
    result = run_suite(cfg, models, holdout)
    record = {
        **result.record(),
        "versions": labels,
        "holdout_windows": [str(w) for w in windows],
        "as_of": as_of_ts.tz_convert("UTC").isoformat(),
    }
    registry.write_stress(number, record, result.worst)
    return {"model": cfg.name, "version": number, **record}
