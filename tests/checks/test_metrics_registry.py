"""The metrics registry: the schema's table and the implementations agree, and the KPIs and the
champion/challenger comparison compute every metric alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftwarden.checks.champion import metric_value
from driftwarden.checks.kpis import evaluate_kpis
from driftwarden.checks.metrics import REGISTRY, UnknownMetric, get_metric, register
from driftwarden.checks.training import Scored, target_values
from driftwarden.config.model import METRICS, ModelConfig

CLASSES = ("a", "b", "c")


def test_the_schema_declares_exactly_the_registered_metrics():
    assert list(REGISTRY) == list(METRICS)
    for name, spec in METRICS.items():
        m = REGISTRY[name]
        assert (m.tasks, m.direction, m.probabilities) == (spec.tasks, spec.direction, spec.probabilities), name
        assert set(m.intervals) == set(m.tasks), name


def test_an_unknown_metric_names_the_known_ones_and_a_name_registers_once():
    with pytest.raises(UnknownMetric) as err:
        get_metric("auc")
    assert "'auc'" in str(err.value) and all(name in str(err.value) for name in METRICS)
    mae = REGISTRY["mae"]
    with pytest.raises(ValueError, match="registered already"):
        register("mae", ("regression",), "lower_is_better", interval="mean_loss", row_loss=lambda d: d.y)
    assert REGISTRY["mae"] is mae


def _frame(task: str, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    if task == "regression":
        y = rng.lognormal(1.0, 0.5, n)
        return pd.DataFrame({"y": y, "pred": y * rng.lognormal(0.0, 0.2, n)})
    if task == "binary":
        y = (rng.uniform(size=n) < 0.4).astype(int)
        pred = np.where(rng.uniform(size=n) < 0.85, y, 1 - y)
        p = np.clip(np.where(pred == 1, 0.7, 0.3) + rng.normal(0, 0.15, n), 0.01, 0.99)
        return pd.DataFrame({"y": y, "pred": pred, "p": p})
    y = rng.choice(CLASSES, n)
    pred = np.where(rng.uniform(size=n) < 0.75, y, rng.choice(CLASSES, n))
    weight = rng.dirichlet(np.ones(3), n) + 2.0 * (np.array(CLASSES) == pred[:, None])
    proba = weight / weight.sum(axis=1, keepdims=True)
    return pd.DataFrame({"y": y, "pred": pred, **{f"p{c}": proba[:, k] for k, c in enumerate(CLASSES)}})


def _config(task: str, metrics: list[str]) -> ModelConfig:
    columns: dict[str, object] = {
        "timestamp": "ts",
        "id": "id",
        "numerical": ["x"],
        "prediction": "pred",
        "target": "y",
    }
    if task == "binary":
        columns["probability"] = "p"
    if task == "multiclass":
        columns["probabilities"] = {c: f"p{c}" for c in CLASSES}
    value = {  # the cost metric reads what the model's decisions are worth
        "binary": {"true_positive": 2.0, "false_positive": 1.0, "false_negative": 5.0},
        "multiclass": {"pairs": {"a": {"b": 1.0, "c": 2.0}, "b": {"a": 3.0}, "c": {"c": -1.0}}},
        "regression": {"under": 2.0, "over": 0.5},
    }[task]
    return ModelConfig.model_validate(
        {
            "name": "registry",
            "task": task,
            "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
            "columns": columns,
            "kpis": [{"metric": m, "target": 0.5} for m in metrics],
            "value": value,
        }
    )


def _scored(task: str, frame: pd.DataFrame) -> Scored:
    if task == "regression":
        return Scored(frame["pred"].to_numpy(dtype=float), None)
    pred = frame["pred"].astype(str).to_numpy(dtype=object)
    if task == "binary":
        return Scored(pred, frame["p"].to_numpy(dtype=float), ("0", "1"))
    return Scored(pred, frame[[f"p{c}" for c in CLASSES]].to_numpy(dtype=float), CLASSES)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_kpis_and_the_comparison_give_the_same_value_of_every_metric(task):
    metrics = [name for name, m in REGISTRY.items() if task in m.tasks]
    frame = _frame(task)
    cfg = _config(task, metrics)
    kpis = {v.metric: v.value for v in evaluate_kpis(frame, cfg, len(frame)).overall}
    y = target_values(cfg, frame)
    holdout = {m: metric_value(cfg, m, y, _scored(task, frame)) for m in metrics}
    assert None not in kpis.values() and None not in holdout.values()
    # DeLong's placements and scikit-learn's trapezoids, or probabilities renormalised, differ in rounding only.
    assert kpis == pytest.approx(holdout, rel=1e-12, abs=1e-12)
