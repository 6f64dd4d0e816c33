"""The named steps of a retraining run, as Prefect tasks; the choices and statistics live in ``checks/``."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from prefect import task

from driftwarden.checks.champion import Comparison, compare_models
from driftwarden.checks.failures import mask_value
from driftwarden.checks.policy import RetrainDecision, WindowState, decide_retrain
from driftwarden.checks.scan import attach_labels
from driftwarden.checks.training import (
    WEIGHT,
    PlanError,
    TrainingPlan,
    baseline_scores,
    features_frame,
    fit_default,
    plan_training,
    score_rows,
    scored_frame,
    target_values,
)
from driftwarden.checks.windows import Window, wall_shift, window_ending_at, windows_between
from driftwarden.config.alerts import WebhookChannel
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import sources, store
from driftwarden.flows.errors import DriftwardenError
from driftwarden.flows.masking import mask_key
from driftwarden.flows.notify.channels import DeliveryError
from driftwarden.flows.notify.channels.webhook import WebhookNotifier
from driftwarden.flows.notify.secrets import describe
from driftwarden.flows.registry.versions import Registry, Version
from driftwarden.flows.runtime import PURE
from driftwarden.flows.store import locks

log = logging.getLogger(__name__)


class RetrainFailed(DriftwardenError):
    """Training crashed or could not start; ``attempt`` says why. The champion is untouched."""

    def __init__(self, attempt: dict[str, Any]):
        super().__init__(attempt.get("error") or "retraining failed")
        self.attempt = attempt


@dataclass(frozen=True)
class History:
    labelled: pd.DataFrame
    """Labelled predictions (features, target, id, timestamp) read for training and the holdout."""
    window_of: pd.Series
    """Each labelled row's window start (UTC)."""
    mature: tuple[pd.Timestamp, ...]
    """Window starts whose label coverage reaches label_maturity as of the run."""


def window_states(
    cfg: ModelConfig,
    store_url: str,
    before: datetime | None = None,
    last: int | None = None,
    ended_after: datetime | None = None,
) -> list[WindowState]:
    """What the store knows of each monitored window (oldest first), for the retrain policy: the ``last``
    windows that did not fail (all by default), only those ending after ``ended_after``."""
    engine = store.open_store(store_url)
    runs = store.latest_runs(engine, cfg.name, end=before, last=last, failed=False, ended_after=ended_after)
    if runs.empty:
        return []
    kpi = store.run_metrics(engine, runs["id"].tolist(), kind="kpi")
    kpi = kpi[kpi["segment"] == "all"] if not kpi.empty else kpi
    breached: dict[int, list[str]] = {}
    for _, r in kpi.iterrows():
        if json.loads(r["details"]).get("level") == "breach":
            breached.setdefault(int(r["run_id"]), []).append(r["name"])
    return [
        WindowState(
            start=pd.Timestamp(r["window_start"]).to_pydatetime(),
            end=pd.Timestamp(r["window_end"]).to_pydatetime(),
            causes=tuple(json.loads(r["causes"])),
            mature=bool((r["label_coverage"] or 0) >= cfg.label_maturity),
            breached=tuple(breached.get(int(r["id"]), ())),
            labelled=int(r["labelled_rows"] or 0),
        )
        for _, r in runs.iterrows()
    ]


def new_attempt(
    cfg: ModelConfig, registry: Registry, reason: str | None, trigger: str, as_of: pd.Timestamp
) -> dict[str, Any]:
    champion = registry.champion()
    return {
        "model": cfg.name,
        "trigger": trigger,
        "reason": reason or "retrain requested by hand",
        "as_of": as_of.tz_convert("UTC").isoformat(),
        "started_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "champion_before": None if champion is None else champion.number,
        "outcome": "running",
    }


@task(**PURE)
def lock_retraining(cfg: ModelConfig, store_url: str) -> locks.WindowLock:
    ttl = timedelta(seconds=get_settings().run_lock_ttl)
    return locks.acquire_retraining(store.open_store(store_url), cfg.name, ttl)


@task(**PURE)
def breach_context(cfg: ModelConfig, store_url: str, as_of: pd.Timestamp) -> RetrainDecision:
    """The cause and the detected change point from the stored windows (cooldown does not apply by hand)."""
    states = window_states(cfg, store_url, store.utc(as_of))
    kpis = [k.metric for k in cfg.kpis]
    decision = decide_retrain(states, cfg.retrain, kpis, store.utc(as_of), None)
    if decision.cause is not None:
        return decision
    drifted = bool(states) and "input_drift" in states[-1].causes
    return RetrainDecision(False, decision.reason, "input_drift" if drifted else "manual")


@task(**PURE)
def read_labelled_history(cfg: ModelConfig, as_of: pd.Timestamp, context: RetrainDecision) -> History:
    """Predictions with the labels known as of the run, over the windows the plan may use."""
    tz = cfg.window.timezone
    length = cfg.window_length
    end = window_ending_at(as_of, length, tz).end
    reach = cfg.retrain.training.windows + cfg.retrain.holdout.windows + cfg.retrain.consecutive + 1
    start = wall_shift(end, -(length * reach + cfg.horizon))
    if context.since is not None:
        start = min(start, pd.Timestamp(context.since).tz_localize("UTC").tz_convert(tz))
    windows = windows_between(start, end, length, tz)
    if not windows:
        return History(pd.DataFrame(), pd.Series(dtype=object), ())
    preds = sources.read_predictions(cfg, windows[0].start, end)
    labels = sources.read_labels(cfg, windows[0].start, as_of)
    labelled = attach_labels(cfg, preds, labels)
    starts = window_starts(windows)
    labelled_in = window_of(labelled[cfg.columns.timestamp], starts)
    rows = window_of(preds[cfg.columns.timestamp], starts).value_counts()
    counts = labelled_in.value_counts()
    coverage = counts.reindex(rows.index, fill_value=0) / rows
    mature = tuple(sorted(w for w, share in coverage.items() if share >= cfg.label_maturity))
    return History(labelled, labelled_in, mature)


def window_starts(windows: list[Window]) -> pd.DatetimeIndex:
    """The windows' starts in UTC, for ``window_of``."""
    return pd.DatetimeIndex([w.start.tz_convert("UTC") for w in windows])


def window_of(times: pd.Series, starts: pd.DatetimeIndex) -> pd.Series:
    """Each time's window start (UTC), of the windows starting at ``starts``."""
    idx = starts.searchsorted(pd.DatetimeIndex(times).tz_convert("UTC"), side="right") - 1
    return pd.Series(starts[np.clip(idx, 0, len(starts) - 1)], index=times.index)


@task(**PURE)
def failure_rows(cfg: ModelConfig, store_url: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Labelled failure samples logged by runs that knew their labels as of ``as_of`` (a replay never sees
    later ones), as rows (features, target, id, and the start of the window they were logged in)."""
    c = cfg.columns
    engine = store.open_store(store_url)
    log_rows = store.failure_log(engine, cfg.name)
    if log_rows.empty:
        return pd.DataFrame(columns=[*c.features, c.target, c.id, c.timestamp])
    with engine.connect() as conn:
        known = pd.read_sql(sa.select(store.runs.c.id, store.runs.c.as_of).where(store.runs.c.model == cfg.name), conn)
    run_as_of = log_rows["run_id"].map(dict(zip(known["id"], known["as_of"], strict=True)))
    labels = log_rows["label"].map(lambda v: json.loads(v) if isinstance(v, str) else None)
    keep = (labels.notna() & (pd.to_datetime(run_as_of) <= store.utc(as_of))).to_numpy()
    feats = pd.DataFrame([json.loads(f) for f in log_rows["features"][keep]]).reindex(columns=c.features)
    feats[c.target] = labels[keep].to_numpy()
    feats[c.id] = log_rows["row_id"][keep].to_numpy()
    feats[c.timestamp] = pd.to_datetime(log_rows["window_start"][keep]).dt.tz_localize("UTC").to_numpy()
    return feats.drop_duplicates(c.id).reset_index(drop=True)


@task(**PURE)
def plan(cfg: ModelConfig, history: History, context: RetrainDecision, failures: pd.DataFrame) -> TrainingPlan:
    needs_reference = context.cause != "concept_change" and cfg.retrain.training.include_reference
    reference = sources.read_reference(cfg, keys=True) if needs_reference else None
    since = None if context.since is None else pd.Timestamp(context.since).tz_localize("UTC")
    return plan_training(
        cfg, history.labelled, history.window_of, history.mature, context.cause or "manual", since, reference, failures
    )


@task(**PURE)
def train_challenger(cfg: ModelConfig, plan: TrainingPlan) -> Any:
    x = features_frame(cfg, plan.train)
    y = target_values(cfg, plan.train)
    weight = plan.train[WEIGHT].to_numpy(dtype=float)
    if cfg.retrain.trainer:
        module, name = cfg.retrain.trainer.split(":")
        trainer = getattr(importlib.import_module(module), name)
        return trainer(x, pd.Series(y, name=cfg.columns.target), weight)
    return fit_default(cfg, x, y, weight)


@task(**PURE)
def judge(cfg: ModelConfig, registry: Registry, plan: TrainingPlan, challenger: Any) -> Comparison:
    """Champion, challenger and the trivial baseline on the same held-out rows."""
    x = features_frame(cfg, plan.holdout)
    y = target_values(cfg, plan.holdout)
    champion = registry.champion()
    champ_scores = None if champion is None else score_rows(cfg, registry.load(champion.number), x)
    if champion is not None and champion.meta.get("as_of") and plan.holdout_windows:
        if pd.Timestamp(champion.meta["as_of"]) > pd.Timestamp(plan.holdout_windows[-1]):
            raise PlanError(
                f"the champion v{champion.number} was trained with data up to {champion.meta['as_of']}, after this "
                "retrain's holdout: a replay of the past cannot judge (or replace) it"
            )
    baseline = baseline_scores(cfg, target_values(cfg, plan.train), len(y))
    return compare_models(cfg, y, score_rows(cfg, challenger, x), champ_scores, baseline)


def _fingerprint(cfg: ModelConfig, frame: pd.DataFrame) -> str:
    c = cfg.columns
    keys = frame[c.id].astype(str) + "=" + frame[c.target].astype(str)
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()


@task(**PURE)
def register_challenger(
    cfg: ModelConfig,
    registry: Registry,
    challenger: Any,
    plan: TrainingPlan,
    comparison: Comparison,
    attempt: dict[str, Any],
) -> Version:
    """Every trained challenger is registered (promoted or not) with its figures; its holdout, scored by it,
    is kept as the drift reference it would bring."""
    c = cfg.columns
    reference_cols = [col for col in [c.id, c.timestamp, *c.features, c.target, *cfg.segments] if col in plan.holdout]
    reference = scored_frame(cfg, challenger, plan.holdout[list(dict.fromkeys(reference_cols))])
    # A holdout smaller than drift.min_rows would make every later drift check 'not evaluated', silently:
    # then the reference in force stays (the parent's, or the configured source).
    big_enough = len(reference) >= cfg.drift.min_rows
    meta = {
        "parent": attempt["champion_before"],
        "reason": attempt["reason"],
        "trigger": attempt["trigger"],
        "training_windows": [str(w) for w in plan.train_windows],
        "holdout_windows": [str(w) for w in plan.holdout_windows],
        "training_rule": plan.note,
        "data_fingerprint": _fingerprint(cfg, plan.train),
        "rows": {
            "train": len(plan.train),
            "holdout": len(plan.holdout),
            "failure_samples": plan.failures_added,
            "reference": plan.reference_rows,
        },
        "holdout_scores": comparison.scores,
        "promotion_metric": comparison.metric,
        "test": comparison.test,
        "p_value": comparison.p_value,
        "comparison_passed": comparison.promote,  # whether it became champion: the alias history says
        "decision": list(comparison.reasons),
        "has_reference": big_enough,
        "reference_note": None
        if big_enough
        else f"holdout of {len(reference)} rows < drift.min_rows {cfg.drift.min_rows}: the reference in force stays",
        "as_of": attempt["as_of"],
    }
    version = registry.register(challenger, meta, reference if big_enough else None)
    return version


@task(**PURE)
def keep_training_samples(cfg: ModelConfig, store_url: str, plan: TrainingPlan) -> int:
    """Flag the failure samples a registered version (promoted or not) was trained on: by id, or by the id's
    token where the id column is masked (the failure log keeps only tokens then)."""
    ids = plan.train[cfg.columns.id].astype(str).tolist()
    if cfg.columns.id in cfg.failures.mask:
        key = mask_key()
        ids = [str(mask_value(i, key)) for i in ids]
    return store.mark_used_in_training(store.open_store(store_url), cfg.name, ids)


@task(**PURE)
def promote(cfg: ModelConfig, registry: Registry, version: Version, comparison: Comparison) -> str | None:
    """Move the alias (the last step that can fail); then export and notify. The promotion stands whatever
    happens after the alias moved: an export that fails (a missing s3fs, a full disk) is returned as the
    attempt's ``export_error``, and the webhook is still called."""
    registry.set_champion(version.number, comparison.reasons[0])
    return champion_moved(cfg, registry, version.number, list(comparison.reasons), comparison.scores)


def champion_moved(
    cfg: ModelConfig, registry: Registry, number: int, reasons: list[str], scores: dict[str, Any] | None = None
) -> str | None:
    """What follows every move of the alias (a promotion, or ``promote`` and ``rollback`` by hand), so that a
    model served elsewhere follows it: the export to ``retrain.export_path`` and the webhook. Returns the
    export's error, if any (the alias has moved whatever happens here)."""
    export_error = None
    if cfg.retrain.export_path:
        try:
            registry.export(number, cfg.retrain.export_path)
        except Exception as exc:
            export_error = f"exporting v{number} to {cfg.retrain.export_path} failed: {type(exc).__name__}: {exc}"
            log.error("%s: %s", cfg.name, export_error)
    if cfg.retrain.webhook_url:
        _notify(cfg, number, reasons, scores or {})
    return export_error


def _notify(cfg: ModelConfig, number: int, reasons: list[str], scores: dict[str, Any]) -> None:
    """POST the move to ``retrain.webhook_url`` through the webhook channel (its attempts, its scrubbing)."""
    body = {"model": cfg.name, "champion": number, "reasons": reasons, "scores": scores}
    try:
        hook = WebhookChannel(type="webhook", url=cfg.retrain.webhook_url or "", timeout_seconds=10)
        WebhookNotifier("promotion", hook, cfg, secret_at="retrain.webhook_url").send(body)
    except Exception as exc:  # the URL may hold a token: the error is scrubbed of it, the setting is named
        error = str(exc) if isinstance(exc, DeliveryError) else describe(exc)
        log.error("%s: the promotion webhook (retrain.webhook_url) failed: %s", cfg.name, error)


def finish(
    attempt: dict[str, Any],
    context: RetrainDecision,
    plan: TrainingPlan,
    comparison: Comparison,
    version: Version,
    shadow: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The attempt's record. ``shadow``: the challenger passed on the retrain's holdout and now waits for its
    shadow windows (``pending``); without it, the holdout decided."""
    waits = shadow is not None and comparison.promote
    judged_on = (
        "the retrain's holdout, then the shadow windows after it"
        if waits
        else "the retrain's holdout: the latest mature window, usually one whose breach started the retrain, "
        "where the champion's score is low by selection"
    )
    return {
        **attempt,
        "outcome": "pending" if waits else "promoted" if comparison.promote else "kept",
        "judged_on": judged_on,
        **({"shadow": shadow} if waits else {}),
        "cause": context.cause,
        "since": None if context.since is None else str(context.since),
        "version": version.number,
        "champion_after": version.number if comparison.promote and not waits else attempt["champion_before"],
        "training_rule": plan.note,
        "rows": {"train": len(plan.train), "holdout": len(plan.holdout), "failure_samples": plan.failures_added},
        "holdout_scores": comparison.scores,
        "metric": comparison.metric,
        "test": comparison.test,
        "p_value": comparison.p_value,
        "reasons": list(comparison.reasons),
        "finished_at": pd.Timestamp.now(tz="UTC").isoformat(),
    }
