"""What a challenger trains on and is judged on, how the default one is built, and how a model scores rows (pure).

The holdout is split by time: the most recent labelled, mature windows, never trained on. Training rows come
strictly before it and are chosen by the cause: after a concept change only rows since the change (old-concept
rows teach the old rule); after input drift the reference plus recent windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from driftwarden.checks.profile import as_category_text
from driftwarden.config.model import ModelConfig

WEIGHT = "__weight__"


@dataclass(frozen=True)
class TrainingPlan:
    train: pd.DataFrame
    """Training rows (features, target, and a ``__weight__`` column)."""
    holdout: pd.DataFrame
    """Held-out rows of the most recent mature windows (features, target, id)."""
    train_windows: tuple[datetime, ...]
    holdout_windows: tuple[datetime, ...]
    train_from: datetime | None
    """First training time (None: all that was read, e.g. the reference)."""
    failures_added: int
    reference_rows: int
    note: str


class PlanError(ValueError):
    """Not enough data to train or to judge honestly; the champion stays."""


def plan_training(
    cfg: ModelConfig,
    labelled: pd.DataFrame,
    window_of: pd.Series,
    mature_windows: Sequence[datetime],
    cause: str,
    since: datetime | None,
    reference: pd.DataFrame | None,
    failures: pd.DataFrame | None,
) -> TrainingPlan:
    """Split labelled rows (``window_of`` gives each row's window start) into training rows and a holdout.

    Nothing from the holdout's windows or later reaches training: not its rows, not rows sharing its ids,
    not failure samples logged in them, not reference rows from them (a promoted champion's reference)."""
    rt = cfg.retrain
    c = cfg.columns
    mature = sorted(set(mature_windows) & set(window_of.unique()))
    if not mature:
        raise PlanError("no mature labelled window to hold out: wait for labels, or lower label_maturity")
    holdout_windows: list[datetime] = []
    held = 0
    for w in reversed(mature):
        holdout_windows.insert(0, w)
        held += int((window_of == w).sum())
        if len(holdout_windows) >= rt.holdout.windows and held >= rt.holdout.min_rows:
            break
    if held < rt.holdout.min_rows:
        raise PlanError(f"holdout has {held} labelled rows < retrain.holdout.min_rows {rt.holdout.min_rows}")
    cut = holdout_windows[0]
    in_holdout = window_of.isin(holdout_windows)
    holdout = labelled[in_holdout].reset_index(drop=True)
    held_ids = set(holdout[c.id].astype(str))
    # Training rows come strictly before the holdout, and never share an id with it.
    earlier_rows = ((window_of < cut) & ~labelled[c.id].astype(str).isin(held_ids)).to_numpy()
    before = labelled[earlier_rows].assign(**{WEIGHT: 1.0})
    before_windows = window_of[earlier_rows]
    earlier = sorted(before_windows.unique())
    use_reference = False
    if cause == "concept_change" and rt.training.after_concept_change == "since_change" and since is not None:
        train_from: datetime | None = since
        note = f"concept change: rows since {since.isoformat(timespec='minutes')}"
    else:
        recent = earlier[-rt.training.windows :]
        train_from = recent[0] if recent else cut
        use_reference = cause != "concept_change" and rt.training.include_reference and reference is not None
        note = f"{cause}: the last {len(recent)} labelled windows" + (" and the reference" if use_reference else "")
    keep = (before_windows >= train_from).to_numpy()
    train = before[keep]
    train_windows = tuple(sorted(before_windows[keep].unique()))
    ref = pd.DataFrame()
    if use_reference and reference is not None and c.target in reference:
        ref = reference[reference[c.target].notna()]
        if c.id in ref:  # the reference may share rows with the holdout: never train on those
            ref = ref[~ref[c.id].astype(str).isin(held_ids)]
        if c.timestamp in ref:
            stamps = pd.to_datetime(ref[c.timestamp], utc=True, format="ISO8601")  # with and without fractions
            ref = ref[stamps < pd.Timestamp(cut).tz_convert("UTC")]
        else:
            note += " (the reference's rows have no timestamp: taken to be older than the holdout)"
        ref = ref.assign(**{WEIGHT: 1.0})
    extra = pd.DataFrame()
    added = 0
    if failures is not None and len(failures) and rt.training.failure_weight > 0:
        fresh = failures[~failures[c.id].astype(str).isin(held_ids)]
        fresh = fresh[fresh[c.target].notna()]
        logged = pd.to_datetime(fresh[c.timestamp], utc=True)  # the start of the window each was logged in
        start = pd.Timestamp(train_from if train_from is not None else cut).tz_convert("UTC")
        fresh = fresh[((logged >= start) & (logged < pd.Timestamp(cut).tz_convert("UTC"))).to_numpy()]
        # A failure sample is usually a labelled row of a training window already: that row weighs more;
        # the others join as rows of their own.
        train_ids = train[c.id].astype(str)
        again = train_ids.isin(set(fresh[c.id].astype(str))).to_numpy()
        weights = train[WEIGHT].to_numpy(dtype=float).copy()
        weights[again] = rt.training.failure_weight
        train = train.assign(**{WEIGHT: weights})
        extra = fresh[~fresh[c.id].astype(str).isin(set(train_ids))].assign(**{WEIGHT: rt.training.failure_weight})
        added = int(again.sum()) + len(extra)
    parts = [p for p in (ref, train, extra) if len(p)] or [train]
    columns = [*c.features, c.target, WEIGHT, c.id]
    combined = pd.concat([p.reindex(columns=columns) for p in parts], ignore_index=True)
    if len(combined) < rt.training.min_rows:
        raise PlanError(
            f"{len(combined)} training rows ({note}) < retrain.training.min_rows {rt.training.min_rows}; "
            "the champion stays"
        )
    return TrainingPlan(combined, holdout, train_windows, tuple(holdout_windows), train_from, added, len(ref), note)


def features_frame(cfg: ModelConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns: numerical as floats, categorical as text (stable across sources)."""
    c = cfg.columns
    out = pd.DataFrame(index=frame.index)
    for col in c.numerical:
        out[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in c.categorical:
        out[col] = as_category_text(frame[col]).astype(object)
    return out


def target_values(cfg: ModelConfig, frame: pd.DataFrame) -> np.ndarray:
    if cfg.task == "regression":
        return frame[cfg.columns.target].to_numpy(dtype=float)
    return as_category_text(frame[cfg.columns.target]).to_numpy(dtype=object)


def build_estimator(cfg: ModelConfig) -> Any:
    """The default trainer's pipeline: ordinal-encoded categoricals, then the configured estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    est = cfg.retrain.estimator
    regression = cfg.task == "regression"
    params = {"random_state": 0, **est.params} if est.kind != "linear" else dict(est.params)
    c = cfg.columns
    if est.kind in ("logistic_regression", "linear"):
        if est.kind == "logistic_regression" and regression:
            raise ValueError("retrain.estimator.kind logistic_regression does not fit a regression task")
        pre = ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(), StandardScaler()), c.numerical),
                ("cat", OneHotEncoder(handle_unknown="ignore"), c.categorical),
            ]
        )
        model = LinearRegression(**params) if regression else LogisticRegression(max_iter=1000, **params)
        return Pipeline([("pre", pre), ("model", model)])
    pre = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), c.categorical)],
        remainder="passthrough",
    )
    table = {
        ("hist_gradient_boosting", False): HistGradientBoostingClassifier,
        ("hist_gradient_boosting", True): HistGradientBoostingRegressor,
        ("random_forest", False): RandomForestClassifier,
        ("random_forest", True): RandomForestRegressor,
    }
    if est.kind == "random_forest":
        pre = ColumnTransformer(
            [
                ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), c.categorical),
                ("num", SimpleImputer(), c.numerical),
            ]
        )
    return Pipeline([("pre", pre), ("model", table[(est.kind, regression)](**params))])


def fit_default(cfg: ModelConfig, x: pd.DataFrame, y: np.ndarray, weight: np.ndarray) -> Any:
    model = build_estimator(cfg)
    return model.fit(x, y, model__sample_weight=weight)


@dataclass(frozen=True)
class Scored:
    """One model's output on some rows: predicted labels (text for classifiers) and probabilities."""

    prediction: np.ndarray
    probability: np.ndarray | None
    """Binary: P(positive class); multiclass: (n, k) in ``classes`` order."""
    classes: tuple[str, ...] = ()


def score_rows(cfg: ModelConfig, model: Any, x: pd.DataFrame, threshold: float | None = None) -> Scored:
    """Predictions of a fitted model (binary: positive when P >= threshold, else the model's own labels)."""
    if cfg.task == "regression":
        return Scored(np.asarray(model.predict(x), dtype=float), None)
    if not hasattr(model, "predict_proba"):
        return Scored(np.asarray([str(v) for v in model.predict(x)], dtype=object), None)
    proba = np.asarray(model.predict_proba(x), dtype=float)
    classes = tuple(str(v) for v in as_category_text(pd.Series(model.classes_)))
    if cfg.task == "binary":
        positive = str(as_category_text(pd.Series([cfg.columns.positive_label])).iloc[0])
        negatives = [k for k in classes if k != positive]
        p = proba[:, classes.index(positive)] if positive in classes else np.zeros(len(x))
        t = cfg.retrain.scoring.threshold if threshold is None else threshold
        negative = negatives[0] if negatives else "0"
        return Scored(np.where(p >= t, positive, negative).astype(object), p, classes)
    return Scored(np.asarray(classes, dtype=object)[proba.argmax(axis=1)], proba, classes)


def baseline_scores(cfg: ModelConfig, y_train: np.ndarray, n: int) -> Scored:
    """The trivial model: the majority class with the class prior as its probability, or the training mean."""
    if cfg.task == "regression":
        return Scored(np.full(n, float(np.mean(y_train))), None)
    values, counts = np.unique(y_train.astype(str), return_counts=True)
    prior = counts / counts.sum()
    majority = values[counts.argmax()]
    if cfg.task == "binary":
        positive = str(as_category_text(pd.Series([cfg.columns.positive_label])).iloc[0])
        p = float(prior[values == positive][0]) if positive in values else 0.0
        return Scored(np.full(n, majority, dtype=object), np.full(n, p), tuple(values))
    return Scored(np.full(n, majority, dtype=object), np.tile(prior, (n, 1)), tuple(values))


def scored_frame(cfg: ModelConfig, model: Any, rows: pd.DataFrame, version: str | None = None) -> pd.DataFrame:
    """``rows`` with the model's prediction (and probability) columns, typed like the labels they predict."""
    c = cfg.columns
    scored = score_rows(cfg, model, features_frame(cfg, rows))
    out = rows.copy()
    out[c.prediction] = scored.prediction if cfg.task == "regression" else _typed(scored.prediction)
    if cfg.task == "binary" and c.probability and scored.probability is not None:
        out[c.probability] = scored.probability
    if cfg.task == "multiclass" and scored.probability is not None:
        for label, col in c.probabilities.items():
            k = scored.classes.index(str(label)) if str(label) in scored.classes else None
            out[col] = 0.0 if k is None else scored.probability[:, k]
    if version is not None and c.model_version:
        out[c.model_version] = version
    return out


def _typed(labels: np.ndarray) -> np.ndarray:
    """Class labels back to integers when they all are (the sources' own type), else text."""
    try:
        as_float = labels.astype(float)
    except (TypeError, ValueError):
        return labels
    return as_float.astype(np.int64) if np.all(np.mod(as_float, 1) == 0) else as_float
