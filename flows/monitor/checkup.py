"""``driftwarden validate``: check that a config's sources exist and hold the configured columns."""

from __future__ import annotations

import pandas as pd

from driftwarden.checks.labels import check_labels
from driftwarden.checks.profile import ReferenceProfile, build_profile
from driftwarden.config.model import ModelConfig
from driftwarden.flows import sources
from driftwarden.flows.errors import SourceError
from driftwarden.flows.monitor.tasks import profile_columns


def check_sources(cfg: ModelConfig) -> tuple[list[str], list[str]]:
    """(problems, notes): each problem names the source, the file and the column."""
    problems: list[str] = []
    notes: list[str] = []
    profile = None
    promoted = sources.promoted_reference(cfg)
    if promoted is not None:  # the configured source is still checked: a rollback would need it
        try:
            sources.source_columns(cfg, cfg.sources.reference, "reference")
        except SourceError as exc:
            problems.append(str(exc))
    try:
        ref = sources.read_reference(cfg)
        missing = [c for c in cfg.columns.features if c not in ref.columns]
        if missing:
            problems.append(f"sources.reference lacks {missing}")
        else:
            where = "" if promoted is None else f" (in force: v{promoted[1]}'s holdout, from the registry)"
            notes.append(f"sources.reference: {len(ref)} rows{where}")
            profile = build_profile(ref, *profile_columns(cfg, ref))
    except SourceError as exc:
        problems.append(str(exc))
    far = pd.Timestamp("1900-01-01", tz="UTC")
    try:
        sources.read_predictions(cfg, far, far + pd.Timedelta(seconds=1))
        notes.append("sources.predictions: the files hold every configured column")
    except SourceError as exc:
        problems.append(str(exc))
    if cfg.sources.labels is not None:
        try:
            sources.read_labels(cfg, far, far + pd.Timedelta(seconds=1))
            notes.append("sources.labels: the files hold the id, target and arrival columns")
            if profile is not None:
                problems += _label_classes(cfg, profile)
        except SourceError as exc:
            problems.append(str(exc))
    return problems, notes


def _label_classes(cfg: ModelConfig, profile: ReferenceProfile) -> list[str]:
    """Labels encoded otherwise than the predictions would make every prediction look wrong."""
    values = sources.label_sample(cfg)
    if cfg.task == "regression":
        sources.check_dtypes(pd.DataFrame({cfg.columns.target: values}), cfg, "labels", [cfg.columns.target])
        return []
    check = check_labels(values, cfg, profile)
    if check is not None and check.unknown:
        where = cfg.describe(cfg.sources.labels) if cfg.sources.labels is not None else "not configured"
        return [check.message(cfg.columns.target, f"sources.labels ({where})")]
    return []
