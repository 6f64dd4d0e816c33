"""`driftwarden status`: every configured model on one screen, read from the store and the registry."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd

from driftwarden.config.model import ModelConfig
from driftwarden.flows import store
from driftwarden.flows.registry.versions import Registry
from driftwarden.flows.store import alerts as alert_store


def next_run(cfg: ModelConfig, now: pd.Timestamp) -> str:
    """The next time the model's nightly deployment fires (its cron, in its zone)."""
    from cronsim import CronSim

    local = now.tz_convert(cfg.window.timezone).to_pydatetime()
    return pd.Timestamp(next(CronSim(cfg.schedule, local))).isoformat()


def model_status(cfg: ModelConfig, store_url: str, now: pd.Timestamp) -> dict[str, Any]:
    """Last run and its status, open alert conditions, muted checks, label coverage, breaches among the
    windows still within the label horizon of the last one, the outbox, the champion, the last retrain, the
    next run. A store that cannot be read gives a row that says so, not a traceback."""
    try:
        return _model_status(cfg, store_url, now)
    except Exception as exc:
        return {
            "model": cfg.name, "next_run": next_run(cfg, now), "last_window": None, "status": "unknown",
            "causes": [], "label_coverage": None, "labels_mature_through": None, "breaches_open": 0,
            "open_conditions": [], "muted": [], "outbox": {}, "champion": None, "last_retrain": None, "estimated": {},
            "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
        }  # fmt: skip


def _model_status(cfg: ModelConfig, store_url: str, now: pd.Timestamp) -> dict[str, Any]:
    engine = store.open_store(store_url)
    runs = store.latest_runs(engine, cfg.name)
    tz = cfg.window.timezone
    out: dict[str, Any] = {"model": cfg.name, "next_run": next_run(cfg, now)}
    if runs.empty:
        out.update(
            last_window=None, status="never run", causes=[], label_coverage=None, labels_mature_through=None,
            breaches_open=0, estimated={},
        )  # fmt: skip
    else:
        last = runs.iloc[-1]
        # windows the last run may have re-scored (they ended within the horizon before it), and later ones
        recent = runs[runs["window_end"] > last["window_start"] - cfg.horizon]
        mature = runs[runs["label_coverage"].fillna(0) >= cfg.label_maturity]
        out.update(
            last_window=_local(last["window_start"], tz),
            status=last["status"],
            causes=json.loads(last["causes"]),
            last_run_at=_local(last["finished_at"] or last["started_at"], tz),
            label_coverage=None if pd.isna(last["label_coverage"]) else round(float(last["label_coverage"]), 3),
            labels_mature_through=None if mature.empty else _local(mature.iloc[-1]["window_start"], tz),
            breaches_open=int((recent["status"] == "breach").sum()),
            estimated=_estimated(engine, int(last["id"])),
        )
    backlog = alert_store.outbox_rows(engine, cfg.name)
    out["outbox"] = {str(k): int(v) for k, v in backlog.groupby("status").size().items()} if len(backlog) else {}
    conditions = alert_store.open_conditions(engine, cfg.name)
    out["open_conditions"] = [f"{k} ({sev})" for k, sev in zip(conditions["key"], conditions["severity"], strict=True)]
    muted = alert_store.mute_rows(engine, cfg.name, store.utc(now))
    out["muted"] = [
        f"{c}/{s} until {_local(u, tz)[:16]}: {r}"
        for c, s, u, r in zip(muted["check_name"], muted["subject"], muted["until"], muted["reason"], strict=True)
    ]
    registry = Registry(cfg)
    champion = registry.champion()
    out["champion"] = None if champion is None else f"v{champion.number}"
    attempts = registry.attempts()
    out["last_retrain"] = None if not attempts else {k: attempts[-1].get(k) for k in ("outcome", "as_of", "reason")}
    return out


def _estimated(engine: Any, run_id: int) -> dict[str, Any]:
    """The last window's estimated KPIs: metric -> value, band and target (or why it is not estimable)."""
    rows = store.run_metrics(engine, [run_id], kind="estimate")
    out: dict[str, Any] = {}
    for _, r in rows.iterrows():
        details = json.loads(r["details"]) if r["details"] else {}
        value = None if pd.isna(r["value"]) else round(float(r["value"]), 4)
        band = None if pd.isna(r["lower"]) else [round(float(r["lower"]), 4), round(float(r["upper"]), 4)]
        out[r["name"]] = {
            "value": value,
            "band": band,
            "target": r["threshold"],
            "not_estimable": details.get("reason") or None,
        }
    return out


def _local(ts: datetime | pd.Timestamp, tz: str) -> str:
    return pd.Timestamp(ts).tz_localize("UTC").tz_convert(tz).isoformat()
