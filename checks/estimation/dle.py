"""Direct loss estimation (DLE) for regression models.

A second model, fitted on the reference, learns each row's loss from the row itself: its features and the
model's prediction -> the absolute error (MAE), the squared error (RMSE) or the squared log error (RMSLE). A
window's estimated MAE is the mean of its rows' predicted absolute errors; RMSE and RMSLE the root of the mean
predicted squared (log) error. Like CBPE it sees a covariate shift into regions where the model errs more, and
not a concept change that leaves the inputs as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from driftwarden.checks.estimation.base import (
    MAX_SHIFT_COLUMNS,
    Fitted,
    NotEstimable,
    Support,
    Tally,
    held_out_sigma,
    register_estimator,
)
from driftwarden.checks.profile import as_category_text
from driftwarden.config.model import ModelConfig

_LOSS = {"mae": "abs", "rmse": "sq", "rmsle": "sqlog", "cost": "cost"}
MAX_CATEGORIES = 50
"""Categories of a feature the loss model tells apart (the most frequent; the rest are one)."""


def _losses(y: np.ndarray, pred: np.ndarray, kind: str, costs: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    if kind == "cost":  # what the error costs: per unit below the label, per unit above it
        err = pred - y
        return np.where(err < 0, -err * costs[0], err * costs[1])
    if kind == "abs":
        return np.abs(y - pred)
    if kind == "sq":
        return (y - pred) ** 2
    return (np.log1p(np.maximum(y, -1 + 1e-9)) - np.log1p(np.maximum(pred, -1 + 1e-9))) ** 2


@dataclass(frozen=True)
class _Design:
    """How a chunk becomes the loss model's inputs: numeric features as they are (NaN kept: the model handles
    it), categoricals as codes of their reference vocabulary, and the prediction."""

    numerical: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]]
    prediction: str

    def matrix(self, chunk: pd.DataFrame) -> np.ndarray:
        cols = [pd.to_numeric(chunk[c], errors="coerce").to_numpy(dtype=float) for c in self.numerical]
        for c, vocab in self.categorical.items():
            codes = pd.Categorical(as_category_text(chunk[c]), categories=list(vocab)).codes.astype(float)
            cols.append(np.where(codes < 0, np.nan, codes))  # unseen and missing alike: the model's NaN branch
        cols.append(pd.to_numeric(chunk[self.prediction], errors="coerce").to_numpy(dtype=float))
        x = np.column_stack(cols)
        return np.where(np.isfinite(x), x, np.nan)

    @property
    def categorical_mask(self) -> list[bool]:
        return [False] * len(self.numerical) + [True] * len(self.categorical) + [False]


@dataclass(frozen=True)
class DLE:
    method: str
    metrics: tuple[str, ...]
    design: _Design
    models: dict[str, Any]
    """Loss kind -> its fitted loss model."""
    sigma: dict[str, tuple[float, float, float]]
    support: Support | None
    costs: tuple[float, float] = (1.0, 1.0)
    """The ``cost`` KPI: what a unit of error costs below the label and above it (``value`` in the config)."""

    @property
    def value_columns(self) -> tuple[str, ...]:
        beyond = ("_beyond",) if self.support is not None else ()
        return (*(f"_loss_{kind}" for kind in self.models), *beyond)

    def row_values(self, chunk: pd.DataFrame, labels: np.ndarray | None = None) -> pd.DataFrame:
        """Per row: its predicted loss of each kind (``_loss_<kind>``, never below 0). With ``labels``, its
        actual loss: the same sums then give the realized KPIs."""
        if labels is not None:
            pred = pd.to_numeric(chunk[self.design.prediction], errors="coerce").to_numpy(dtype=float)
            y = np.asarray(labels, dtype=float)
            out = {f"_loss_{kind}": _losses(y, pred, kind, self.costs) for kind in self.models}
        else:
            x = self.design.matrix(chunk)
            with _one_thread():
                out = {f"_loss_{kind}": np.maximum(model.predict(x), 0.0) for kind, model in self.models.items()}
        if self.support is not None:
            out["_beyond"] = self.support.beyond(chunk)
        return pd.DataFrame(out, index=chunk.index)

    def effective(self, tally: Tally) -> dict[str, float]:
        return dict.fromkeys(self.metrics, float(tally.rows))

    def tally(self, values: pd.DataFrame) -> Tally:
        sums = {kind: float(values[f"_loss_{kind}"].sum()) for kind in self.models}
        if "_beyond" in values:
            sums["beyond"] = float(values["_beyond"].sum())
        return Tally(len(values), sums)

    def point(self, tally: Tally) -> dict[str, float | None]:
        if tally.rows == 0:
            return dict.fromkeys(self.metrics)
        out: dict[str, float | None] = {}
        for m in self.metrics:
            mean = tally.sums[_LOSS[m]] / tally.rows
            out[m] = mean if m in ("mae", "cost") else float(np.sqrt(mean))
        return out


def _one_thread() -> Any:
    """OpenMP on one thread: the loss models are small, and beside the scan's own threads (or the tests' other
    workers) more threads than cores make them many times slower, not faster."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _model(seed: int) -> HistGradientBoostingRegressor:
    # small and regularised: a loss is noisier than the target it comes from
    return HistGradientBoostingRegressor(
        max_iter=60, learning_rate=0.15, max_leaf_nodes=15, min_samples_leaf=40, early_stopping=False, random_state=seed
    )


@register_estimator("dle", tasks=("regression",), metrics=("mae", "rmse", "rmsle", "cost"))
def fit_dle(reference: pd.DataFrame, cfg: ModelConfig, metrics: tuple[str, ...]) -> Fitted | NotEstimable:
    """Fit a loss model per loss the KPIs need: cross-fitted for the bands, then on all the reference."""
    c = cfg.columns
    vocab = {}
    for col in c.categorical:
        counts = as_category_text(reference[col]).value_counts()
        vocab[col] = tuple(str(k) for k in counts.index[:MAX_CATEGORIES])
    design = _Design(tuple(c.numerical), vocab, c.prediction)
    x = design.matrix(reference)
    y = pd.to_numeric(reference[c.target], errors="coerce").to_numpy(dtype=float)
    pred = pd.to_numeric(reference[c.prediction], errors="coerce").to_numpy(dtype=float)
    if "rmsle" in metrics and (np.nanmin(y) <= -1 or np.nanmin(pred) <= -1):
        metrics = tuple(m for m in metrics if m != "rmsle")  # the realized KPI refuses such rows too
        if not metrics:
            return NotEstimable("dle", ("rmsle",), "labels or predictions at or below -1: rmsle is undefined")
    kinds = tuple(dict.fromkeys(_LOSS[m] for m in metrics))
    costs = cfg.value.unit_costs if cfg.value is not None else (1.0, 1.0)
    losses = {kind: _losses(y, pred, kind, costs) for kind in kinds}
    mask = design.categorical_mask

    support = Support.of(reference[list(c.numerical)]) if c.numerical else None

    def fit(rows: np.ndarray) -> DLE:
        models = {}
        with _one_thread():
            for kind in kinds:
                model = _model(0)
                model.set_params(categorical_features=mask)
                models[kind] = model.fit(x[rows], losses[kind][rows])
        return DLE("dle", metrics, design, models, {}, support, costs)

    shifts = reference[[*c.numerical, c.prediction]].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    # the columns the loss follows most closely (each costs two more fits of the loss models)
    first = losses[kinds[0]]
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant column follows nothing: NaN, then 0
        strength = shifts.rank().corrwith(pd.Series(first).rank()).abs().fillna(0.0)
    shifts = shifts[strength.sort_values(ascending=False).index[:MAX_SHIFT_COLUMNS]]
    full = fit(np.arange(len(reference)))
    sigma = held_out_sigma(fit, full, reference, y, shifts)
    return DLE("dle", metrics, design, full.models, sigma, support, costs)
