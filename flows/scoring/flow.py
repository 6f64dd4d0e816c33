"""Batch scoring: the ``score-model`` flow scores a window's features with the current champion and writes the
predictions, with the champion's version, to the model's predictions source. A window already scored is left
alone (history is not rewritten by a later champion) unless forced."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger

from driftwarden.checks.training import scored_frame
from driftwarden.checks.windows import Window
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import expand_secrets
from driftwarden.flows import runtime, sources
from driftwarden.flows.errors import SourceError
from driftwarden.flows.registry.trust import RegistryError
from driftwarden.flows.registry.versions import Registry


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    return f"{Path(params['config_path']).stem}-score-{params.get('window_end') or 'latest'}"


def version_label(number: int) -> str:
    return f"v{number}"


@flow(name="score-model", flow_run_name=_run_name, timeout_seconds=2 * 3600)
def score_model(config_path: str, window_end: str | None = None, force: bool = False) -> dict[str, Any]:
    """Score one window (default: the last complete one) with the champion."""
    cfg = runtime.load_config(config_path)
    window = runtime.resolve_window(cfg, window_end)
    return predict_window(cfg, window, force)


def predict_window(cfg: ModelConfig, window: Window, force: bool = False) -> dict[str, Any]:
    out = {"model": cfg.name, "window_start": window.start.isoformat(), "window_end": window.end.isoformat()}
    if not force and already_scored(cfg, window):
        return {**out, "scored": 0, "skipped": "predictions for this window exist (use --force to re-score)"}
    registry = Registry(cfg)
    champion = registry.champion()
    if champion is None:
        raise RegistryError(
            f"model {cfg.name} has no champion to score with: register one with "
            f"'driftwarden models register --config ... --file model.skops'"
        )
    rows = sources.read_features(cfg, window.start, window.end)
    if rows.empty:  # nothing to score: no file, so the monitor sees a dead feed (a volume breach), not a bad file
        get_run_logger().warning("%s: no feature rows in %s: nothing scored", cfg.name, window.label)
        return {**out, "scored": 0, "skipped": "no feature rows in this window"}
    scored: pd.DataFrame = predict(cfg, registry, champion.number, rows)
    where = write_predictions(cfg, window, scored)
    get_run_logger().info("%s: scored %d rows of %s with v%d", cfg.name, len(scored), window.label, champion.number)
    return {**out, "scored": len(scored), "version": version_label(champion.number), "written_to": where}


@runtime.step(runtime.PURE)
def already_scored(cfg: ModelConfig, window: Window) -> bool:
    src = cfg.sources.predictions
    if src.path is not None:
        return _window_file(cfg, window).exists()
    try:
        return not sources.read_predictions(cfg, window.start, window.end).empty
    except SourceError:
        return False


@runtime.step(runtime.PURE)
def predict(cfg: ModelConfig, registry: Registry, number: int, rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return rows
    return scored_frame(cfg, registry.load(number), rows, version_label(number))


def _window_file(cfg: ModelConfig, window: Window) -> Path:
    folder = Path(cfg.resolve(cfg.sources.predictions.path or "")).parent
    return folder / f"{cfg.name}-{window.start.strftime('%Y%m%dT%H%M%z')}.parquet"


@runtime.step({**runtime.PURE, "retries": 2, "retry_delay_seconds": [1, 5]})
def write_predictions(cfg: ModelConfig, window: Window, frame: pd.DataFrame) -> str:
    """One Parquet file per window (written, then renamed into place), or the window's rows of a table replaced
    in one transaction."""
    src = cfg.sources.predictions
    if src.path is not None:
        target = _window_file(cfg, window)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(target)
        return str(target)
    engine = sa.create_engine(expand_secrets(src.url or "", "sources.predictions.url"))
    schema, _, name = (src.table or "").rpartition(".")
    ts = cfg.columns.timestamp
    try:
        with engine.begin() as conn:
            table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
            # Naive stored times are local wall-clock times (as the sources read them); aware ones are UTC.
            naive = not getattr(table.c[ts].type, "timezone", False)
            tz = "UTC" if not naive else cfg.window.timezone
            times = pd.to_datetime(frame[ts]).dt.tz_convert(tz)
            lo, hi = window.start.tz_convert(tz), window.end.tz_convert(tz)
            if naive:
                times, lo, hi = times.dt.tz_localize(None), lo.tz_localize(None), hi.tz_localize(None)
            rows = frame.assign(**{ts: times})
            conn.execute(table.delete().where(table.c[ts] >= lo, table.c[ts] < hi))
            known = [col for col in rows.columns if col in table.c]
            if len(rows):
                conn.execute(table.insert(), rows[known].to_dict(orient="records"))
    finally:
        engine.dispose()
    return f"table {src.table}"
