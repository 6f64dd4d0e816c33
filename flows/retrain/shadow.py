"""A challenger waiting for its shadow windows: judged by the first monitoring run whose labels of the windows
after the retrain's holdout have matured, on rows that neither trained it nor chose the champion's low score.

Its state lives in the registry: the attempt record says ``pending`` until a run decides, then ``promoted``,
``kept`` (the challenger refused on the shadow windows) or ``expired`` (the windows never came, the champion
moved meanwhile, or a newer retrain superseded it), with the shadow windows' figures and the retrain's holdout
kept beside them as context. Nothing sleeps: a run that finds the labels not yet mature leaves it waiting.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pandas as pd

from driftwarden.checks.champion import Comparison, compare_models
from driftwarden.checks.scan import attach_labels
from driftwarden.checks.shadow import ShadowPlan, ShadowWindow, shadow_deadline, shadow_plan
from driftwarden.checks.training import baseline_scores, features_frame, score_rows, target_values
from driftwarden.checks.windows import Window, windows_between
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import sources, store
from driftwarden.flows.registry.versions import Registry
from driftwarden.flows.retrain.tasks import champion_moved, window_of, window_starts
from driftwarden.flows.store import locks

log = logging.getLogger(__name__)


def shadow_terms(cfg: ModelConfig, holdout_windows: list[Any]) -> dict[str, Any]:
    """What a pending attempt records of its wait: how many windows, after which moment, until when."""
    length, tz = cfg.window_length, cfg.window.timezone
    last = pd.Timestamp(holdout_windows[-1])
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    after = windows_between(last, last + 2 * length, length, tz)[0].end.tz_convert("UTC")
    n = cfg.retrain.promotion.shadow_windows
    deadline = pd.Timestamp(shadow_deadline(after.to_pydatetime(), n, length, cfg.horizon))
    return {"windows": n, "after": after.isoformat(), "deadline": deadline.isoformat(), "state": "pending"}


def supersede_pending(registry: Registry, as_of: pd.Timestamp) -> None:
    """A newer retrain replaces a challenger still waiting: it expires, and says why."""
    pending = registry.pending()
    if pending is not None:
        _close(registry, pending, "expired", as_of, reason="superseded by a newer retrain")


def decide_pending(cfg: ModelConfig, store_url: str, as_of: pd.Timestamp) -> dict[str, Any] | None:
    """Decide the pending challenger if its shadow windows are ready (None: nothing pending). Never raises: the
    monitoring run goes on whatever happens here, and the next run tries again."""
    try:
        registry = Registry(cfg)
        pending = registry.pending()
        if pending is None or pd.Timestamp(as_of) < pd.Timestamp(pending["as_of"]):
            return None  # a re-run of an earlier window knows less than the retrain did
        lock = locks.acquire_retraining(
            store.open_store(store_url), cfg.name, timedelta(seconds=get_settings().run_lock_ttl)
        )
    except locks.WindowBusy:
        return None  # a retrain is running: it will supersede this one, or the next run decides
    except Exception as exc:
        log.error("%s: the pending challenger could not be decided: %s: %s", cfg.name, type(exc).__name__, exc)
        return None
    try:
        return _decide(cfg, registry, pending, as_of)
    except Exception as exc:
        log.error("%s: the pending challenger could not be decided: %s: %s", cfg.name, type(exc).__name__, exc)
        return {"state": "error", "version": pending.get("version"), "error": f"{type(exc).__name__}: {exc}"}
    finally:
        locks.release_quietly(store_url, lock)


def _decide(cfg: ModelConfig, registry: Registry, pending: dict[str, Any], as_of: pd.Timestamp) -> dict[str, Any]:
    terms = pending["shadow"]
    champion = registry.champion()
    if champion is None or champion.number != pending.get("champion_before"):
        now = "none" if champion is None else f"v{champion.number}"
        return _close(registry, pending, "expired", as_of, reason=f"the champion changed meanwhile (now {now})")
    after = pd.Timestamp(terms["after"])
    windows, rows = _shadow_rows(cfg, after, as_of)
    plan = shadow_plan(
        windows,
        int(terms["windows"]),
        cfg.retrain.promotion.shadow_min_rows,
        as_of.tz_convert("UTC").to_pydatetime(),
        pd.Timestamp(terms["deadline"]).to_pydatetime(),
    )
    if plan.state == "waiting":
        return {"state": "waiting", "version": pending.get("version"), "reason": plan.reason}
    if plan.state == "expired":
        return _close(registry, pending, "expired", as_of, plan=plan, reason=plan.reason)
    chosen = rows[rows["__window__"].isin([pd.Timestamp(w.start) for w in plan.windows])]
    x = features_frame(cfg, chosen)
    y = target_values(cfg, chosen)
    comparison = compare_models(
        cfg,
        y,
        score_rows(cfg, registry.load(int(pending["version"])), x),
        score_rows(cfg, registry.load(champion.number), x),
        baseline_scores(cfg, y, len(y)),  # the shadow rows' own prior: never easier to beat than the training one
    )
    if comparison.promote:
        registry.set_champion(int(pending["version"]), f"on the shadow windows: {comparison.reasons[0]}")
        export_error = champion_moved(
            cfg, registry, int(pending["version"]), list(comparison.reasons), comparison.scores
        )
        return _close(registry, pending, "promoted", as_of, plan, comparison, export_error=export_error)
    return _close(registry, pending, "kept", as_of, plan, comparison)


def _shadow_rows(cfg: ModelConfig, after: pd.Timestamp, as_of: pd.Timestamp) -> tuple[list[ShadowWindow], pd.DataFrame]:
    """The complete windows from ``after`` to ``as_of``: their rows with labels known as of then."""
    tz, length = cfg.window.timezone, cfg.window_length
    grid: list[Window] = windows_between(after, as_of, length, tz)
    if not grid:
        return [], pd.DataFrame()
    preds = sources.read_predictions(cfg, grid[0].start, grid[-1].end)
    labelled = attach_labels(cfg, preds, sources.read_labels(cfg, grid[0].start, as_of))
    starts = window_starts(grid)
    ts = cfg.columns.timestamp
    made = window_of(preds[ts], starts).value_counts()
    labelled = labelled.assign(__window__=window_of(labelled[ts], starts))
    known = labelled["__window__"].value_counts()
    out = []
    for w in grid:
        start = w.start.tz_convert("UTC")
        n, k = int(made.get(start, 0)), int(known.get(start, 0))
        settled = w.end.tz_convert("UTC") + cfg.horizon <= as_of.tz_convert("UTC")
        mature = n > 0 and (k / n >= cfg.label_maturity or settled)
        out.append(ShadowWindow(start.to_pydatetime(), w.end.tz_convert("UTC").to_pydatetime(), n, k, mature))
    return out, labelled


def _close(
    registry: Registry,
    pending: dict[str, Any],
    outcome: str,
    as_of: pd.Timestamp,
    plan: ShadowPlan | None = None,
    comparison: Comparison | None = None,
    reason: str | None = None,
    export_error: str | None = None,
) -> dict[str, Any]:
    """Write the decision into the attempt's record; the retrain's holdout figures stay as context."""
    state = {"promoted": "promoted", "kept": "refused", "expired": "expired"}[outcome]
    record = {k: v for k, v in pending.items() if k != "record"}
    record["retrain_holdout"] = {
        k: pending.get(k) for k in ("holdout_scores", "metric", "test", "p_value", "reasons", "rows")
    }
    shadow = {**pending["shadow"], "state": state, "decided_as_of": pd.Timestamp(as_of).tz_convert("UTC").isoformat()}
    if plan is not None:
        shadow["windows_used"] = [pd.Timestamp(w.start).isoformat() for w in plan.windows]
        shadow["rows"] = plan.labelled
        shadow["plan"] = {k: v for k, v in asdict(plan).items() if k in ("state", "reason", "labelled")}
    if comparison is not None:
        shadow.update(
            scores=comparison.scores,
            test=comparison.test,
            p_value=comparison.p_value,
            difference=comparison.difference,
            reasons=list(comparison.reasons),
        )
        record.update(
            holdout_scores=comparison.scores,
            test=comparison.test,
            p_value=comparison.p_value,
            reasons=list(comparison.reasons),
        )
        record["rows"] = {**(pending.get("rows") or {}), "shadow": None if plan is None else plan.labelled}
    if reason:
        shadow["reason"] = reason
        record["reasons"] = [f"the challenger expired unjudged: {reason}"]
    record.update(
        outcome=outcome,
        shadow=shadow,
        champion_after=pending["version"] if outcome == "promoted" else pending.get("champion_before"),
        decided_at=pd.Timestamp.now(tz="UTC").isoformat(),
    )
    if export_error:
        record["export_error"] = export_error
    registry.update_attempt(pending["record"], record)
    return {
        "state": state,
        "version": pending.get("version"),
        "outcome": outcome,
        "p_value": shadow.get("p_value"),
        "reasons": record.get("reasons", []),
        "rows": shadow.get("rows"),
    }


def promotion_rows(decision: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The pending challenger's state as seen by this run, a metric row of it (so a window says it decided)."""
    if decision is None:
        return []
    return [
        {
            "kind": "retrain",
            "name": "promotion",
            "value": 1.0 if decision.get("state") == "promoted" else 0.0,
            "passed": None,
            "details": decision,
        }
    ]
