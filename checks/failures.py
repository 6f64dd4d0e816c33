"""Pick failure samples for the failure log: where and why predictions go wrong, with the evidence.

Reasons: ``confident_mistake`` (wrong with confidence >= CONFIDENT), ``misclassified``, ``large_residual``
(regression, largest |error| first), and the rows behind failed validation (``null_value``,
``out_of_range``, ``unseen_category``, ``duplicate_id``). Bounded per run: the budget is shared evenly
among the reasons present, the worst rows of each first. Excluded columns never leave; masked ones leave
only as a one-way hash.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from driftwarden.checks.profile import as_category_text, category_text
from driftwarden.checks.validation import ValidationResult
from driftwarden.config.model import ModelConfig

CONFIDENT = 0.8
FAILURE_REASONS = (
    "confident_mistake", "misclassified", "large_residual", "null_value", "out_of_range", "unseen_category",
    "duplicate_id",
)  # fmt: skip


@dataclass(frozen=True)
class FailureSample:
    reason: str
    row_id: str
    model_version: str | None
    prediction: Any
    label: Any
    score: float | None
    """Confidence of the wrong prediction, |residual|, or the offending value where numeric."""
    features: dict[str, Any]
    detail: str

    def to_row(self) -> dict[str, Any]:
        """The sample as a failure-log row (a shallow dict: ``asdict``'s deep copy of every feature value costs
        more than choosing the samples)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def mask_value(value: Any, key: bytes) -> str | None:
    """A one-way token for a PII value: HMAC-SHA256 under ``key`` (the setting DRIFTWARDEN_MASK_KEY), so that
    the token of a guessable value (an email, a postcode) cannot be found by hashing guesses without the key;
    the same value always gives the same token, so ``purge --id`` still finds a masked id."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return "hmac:" + hmac.new(key, str(_plain(value)).encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class _Privacy:
    mask: frozenset[str]
    exclude: frozenset[str]
    key: bytes

    def show(self, column: str, value: Any) -> Any:
        """The value as the failure log may keep it: withheld (excluded), a token (masked) or plain."""
        if column in self.exclude:
            return "(withheld)"
        return mask_value(value, self.key) if column in self.mask else _plain(value)

    def private(self, column: str) -> bool:
        return column in self.mask or column in self.exclude


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _features(row: dict[str, Any], cfg: ModelConfig, privacy: _Privacy) -> dict[str, Any]:
    shown = [col for col in cfg.columns.features if col not in privacy.exclude and col in row]
    return {col: privacy.show(col, row[col]) for col in shown}


def _sample(
    row: dict[str, Any], cfg: ModelConfig, reason: str, score: float | None, detail: str, privacy: _Privacy
) -> FailureSample:
    cols = cfg.columns
    mv = row.get(cols.model_version) if cols.model_version else None
    rid = row[cols.id]

    def field(column: str | None) -> Any:  # a token when masked, nothing when excluded
        if column is None or column in privacy.exclude:
            return None
        return privacy.show(column, row.get(column))

    version = field(cols.model_version)
    return FailureSample(
        reason=reason,
        row_id=(mask_value(rid, privacy.key) or "") if cols.id in privacy.mask else str(_plain(rid)),
        model_version=None if mv is None or pd.isna(mv) or version is None else str(version),
        prediction=field(cols.prediction),
        label=field(cols.target),
        score=None if score is None or not np.isfinite(score) else float(score),
        features=_features(row, cfg, privacy),
        detail=detail,
    )


def _prediction_failures(labelled: pd.DataFrame, cfg: ModelConfig) -> dict[str, list[tuple[int, float]]]:
    """reason -> [(position, score)] worst first, over the labelled rows; at most ``max_per_run`` each."""
    cols = cfg.columns
    limit = cfg.failures.max_per_run
    if labelled.empty:
        return {}
    if cfg.task == "regression":
        resid = (labelled[cols.target].astype(float) - labelled[cols.prediction].astype(float)).abs().to_numpy()
        order = np.argsort(-resid, kind="stable")[:limit]
        return {"large_residual": [(int(i), float(resid[i])) for i in order]}
    y = as_category_text(labelled[cols.target]).to_numpy()
    pred = as_category_text(labelled[cols.prediction]).to_numpy()
    wrong = np.flatnonzero(y != pred)
    # Confidence = the probability the model gave the class it predicted (not max(p, 1 - p): with a tuned
    # cut-off, p = 0.11 may predict the positive class with little confidence).
    conf = np.full(len(labelled), np.nan)
    if cfg.task == "binary" and cols.probability:
        p = labelled[cols.probability].to_numpy(dtype=float)
        conf = np.where(pred == category_text(cols.positive_label), p, 1 - p)
    elif cfg.task == "multiclass" and cols.probabilities:
        table = labelled[list(cols.probabilities.values())].to_numpy(dtype=float)
        index = {category_text(c): k for k, c in enumerate(cols.probabilities)}
        column = np.array([index.get(cls, -1) for cls in pred], dtype=int)
        known = column >= 0
        conf[known] = table[np.flatnonzero(known), column[known]]
    ranked = wrong[np.argsort(-np.nan_to_num(conf[wrong], nan=0.0), kind="stable")]
    confident = np.isfinite(conf[ranked]) & (conf[ranked] >= CONFIDENT)
    return {
        "confident_mistake": [(int(i), float(conf[i])) for i in ranked[confident][:limit]],
        "misclassified": [(int(i), float(conf[i])) for i in ranked[~confident][:limit]],
    }


def _share_budget(pools: dict[str, list[Any]], budget: int) -> dict[str, list[Any]]:
    taken: dict[str, list[Any]] = {k: [] for k in pools}
    left = budget
    active = [k for k in pools if pools[k]]
    while left > 0 and active:
        quota = max(1, left // len(active))
        for k in list(active):
            start = len(taken[k])
            extra = pools[k][start : start + min(quota, left)]
            taken[k].extend(extra)
            left -= len(extra)
            if len(taken[k]) >= len(pools[k]):
                active.remove(k)
            if left <= 0:
                break
    return taken


def failure_candidates(labelled: pd.DataFrame, cfg: ModelConfig) -> pd.DataFrame:
    """The rows of one chunk that could make the window's failure log: the worst ``max_per_run`` of each
    reason (the window's worst of a reason are among its chunks' worst), so that the log is chosen
    exactly without holding the window."""
    keep = sorted({pos for ranked in _prediction_failures(labelled, cfg).values() for pos, _ in ranked})
    return labelled.iloc[keep]


def select_failures(
    validation: ValidationResult | None,
    labelled: pd.DataFrame,
    cfg: ModelConfig,
    mask_key: bytes = b"",
) -> list[FailureSample]:
    """Failure samples of one window: the rows behind failed validation, and wrong predictions among
    ``labelled`` (the window's labelled rows, or its chunks' ``failure_candidates``). Masked and excluded
    columns (``failures.mask``, ``failures.exclude``) leave only as tokens, or not at all, in every field."""
    privacy = _Privacy(frozenset(cfg.failures.mask), frozenset(cfg.failures.exclude), mask_key)
    pools: dict[str, list[tuple[pd.DataFrame, int, float | None, str]]] = {}
    if validation is not None:
        for rf in validation.failing_rows:
            pool = pools.setdefault(rf.reason, [])
            for pos, value in enumerate(rf.rows[rf.column].tolist()):
                numeric = isinstance(value, int | float | np.number) and not pd.isna(value)
                score = float(value) if numeric and not privacy.private(rf.column) else None
                pool.append((rf.rows, pos, score, f"{rf.column}={privacy.show(rf.column, value)!r}"))
    c = cfg.columns
    for reason, ranked in _prediction_failures(labelled, cfg).items():
        what = "|residual|" if reason == "large_residual" else "confidence"
        # The score is made of private columns' values (the probability, or label and prediction): withheld.
        behind = {c.target, c.prediction} if reason == "large_residual" else {c.probability, *c.probabilities.values()}
        if behind & (privacy.mask | privacy.exclude):
            pools.setdefault(reason, []).extend((labelled, i, None, f"{what} (withheld)") for i, _ in ranked)
        else:
            pools.setdefault(reason, []).extend((labelled, i, s, f"{what} {s:.3f}") for i, s in ranked)
    chosen = _share_budget(pools, cfg.failures.max_per_run)
    # Each frame's chosen rows as dicts in one call: a Series per row (``iloc``) costs more than the choice.
    wanted: dict[int, tuple[pd.DataFrame, list[int]]] = {}
    for items in chosen.values():
        for frame, pos, _, _ in items:
            wanted.setdefault(id(frame), (frame, []))[1].append(pos)
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for key, (frame, positions) in wanted.items():
        picked = sorted(set(positions))
        rows.update(zip(((key, p) for p in picked), frame.iloc[picked].to_dict("records"), strict=True))
    return [
        _sample(rows[(id(frame), pos)], cfg, reason, score, detail, privacy)
        for reason, items in chosen.items()
        for frame, pos, score, detail in items
    ]
