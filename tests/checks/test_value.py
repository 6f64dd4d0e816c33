"""The cost KPI: what the model's decisions are worth, per prediction, from the value in its config; estimated
before the labels by CBPE's expected confusion matrix and DLE's predicted losses."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwarden.checks.estimation import estimates, fit_estimator
from driftwarden.checks.estimation.cbpe import CBPE
from driftwarden.checks.kpis import evaluate_kpis
from driftwarden.checks.reference_models import ReferenceModels
from driftwarden.config.loader import ConfigError, load_model_config
from driftwarden.config.model import ModelConfig
from driftwarden.flows.demo import worlds as study


def _config(task: str, value: dict[str, Any] | None, **extra: Any) -> ModelConfig:
    columns: dict[str, Any] = {"timestamp": "ts", "id": "id", "numerical": ["x"], "prediction": "pred", "target": "y"}
    if task == "multiclass":
        columns["probabilities"] = {"a": "pa", "b": "pb", "c": "pc"}
    data: dict[str, Any] = {
        "name": "value",
        "task": task,
        "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
        "columns": columns,
        "kpis": [{"metric": "cost", "target": 5.0, "min_labelled": 1}],
        **extra,
    }
    if value is not None:
        data["value"] = value
    return ModelConfig.model_validate(data)


def test_the_cost_of_a_hand_computed_confusion_matrix():
    # 3 true positives earn 10 each, 2 false positives cost 20, 1 false negative costs 100, 4 true negatives
    # earn 1: (-30 + 40 + 100 - 4) / 10 = 10.6 per prediction
    y = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    pred = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    value = {"currency": "EUR", "true_positive": 10, "false_positive": 20, "false_negative": 100, "true_negative": 1}
    cfg = _config("binary", value)
    [kpi] = evaluate_kpis(pd.DataFrame({"y": y, "pred": pred}), cfg, 10).overall
    assert kpi.metric == "cost" and kpi.value == pytest.approx(10.6)
    assert kpi.lower is not None and kpi.upper is not None and kpi.lower < 10.6 < kpi.upper
    assert kpi.direction == "lower_is_better" and kpi.level in ("warning", "breach")  # beyond 5.0


def test_the_cost_of_regression_errors_below_and_above_the_label():
    cfg = _config("regression", {"under": 3, "over": 1})
    frame = pd.DataFrame({"y": [10.0, 10.0, 10.0], "pred": [8.0, 12.0, 10.0]})
    [kpi] = evaluate_kpis(frame, cfg, 3).overall
    assert kpi.value == pytest.approx((2 * 3 + 2 * 1 + 0) / 3)
    cfg = _config("regression", {"per_unit": 2})
    [kpi] = evaluate_kpis(frame, cfg, 3).overall
    assert kpi.value == pytest.approx(8 / 3)


def test_the_cost_of_multiclass_decisions_by_pair():
    cfg = _config("multiclass", {"pairs": {"a": {"b": 4, "a": -1}, "c": {"a": 10}}})
    frame = pd.DataFrame({"y": ["a", "a", "c", "b"], "pred": ["a", "b", "a", "b"], "pa": 0.4, "pb": 0.3, "pc": 0.3})
    [kpi] = evaluate_kpis(frame, cfg, 4).overall
    assert kpi.value == pytest.approx((-1 + 4 + 10 + 0) / 4)


@pytest.mark.parametrize(
    ("task", "value", "named"),
    [
        ("binary", None, "kpis: cost needs value"),
        ("binary", {"false_positive": 1}, "value.false_negative is needed"),
        ("regression", {"per_unit": 1, "true_positive": 3}, "value.true_positive does not apply"),
        ("regression", {"under": 1}, "value.over is needed"),
        ("multiclass", {"currency": "EUR"}, "value.pairs is needed"),
    ],
)
def test_a_value_that_does_not_fit_names_its_key(task, value, named):
    with pytest.raises(ValueError, match=named):
        _config(task, value)


def test_a_key_result_names_its_kpi_and_the_file_error_names_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"objectives.0.key_results.1.kpi: 'recall' is not among kpis"):
        _config(
            "binary",
            {"false_positive": 1, "false_negative": 2},
            objectives=[{"objective": "o", "key_results": [{"kpi": "cost"}, {"kpi": "recall"}]}],
        )
    path = tmp_path / "m.yaml"
    path.write_text(
        "name: m\ntask: binary\nsources: {predictions: {path: p.csv}, reference: {path: r.csv}}\n"
        "columns: {timestamp: ts, id: id, numerical: [x], prediction: pred, target: y}\n"
        "value: {false_positive: 1, false_negative: x}\n"
    )
    with pytest.raises(ConfigError, match=r"value.false_negative"):
        load_model_config(path)


def _binary_with_cost() -> ModelConfig:
    cfg = study.config("binary")
    kpis = [*cfg.kpis, cfg.kpis[0].model_copy(update={"metric": "cost", "target": 1.0})]
    value = {"true_positive": 1.0, "false_positive": 2.0, "false_negative": 5.0}
    return ModelConfig.model_validate({**cfg.model_dump(), "kpis": [k.model_dump() for k in kpis], "value": value})


def test_cbpe_estimates_the_cost_from_the_expected_confusion_matrix():
    cfg, world = _binary_with_cost(), study.worlds()["binary"]
    rng = np.random.default_rng(5)
    fitted = fit_estimator(world.draw(3000, rng), cfg)
    assert isinstance(fitted, CBPE) and "cost" in fitted.metrics
    frame = world.draw(2000, rng, shift=0.5)
    labels = frame["y"].astype(str).to_numpy(dtype=object)
    real = fitted.point(fitted.tally(fitted.row_values(frame, labels)))["cost"]
    [kpi] = [v for v in evaluate_kpis(frame, cfg, len(frame)).overall if v.metric == "cost"]
    assert real == pytest.approx(kpi.value)  # the realized KPI through the estimator's own sums
    [e] = [e for e in estimates(fitted, fitted.tally(fitted.row_values(frame))) if e.metric == "cost"]
    assert e.lower < real < e.upper and e.lower < 0  # an amount (here a gain): the band is not clipped to [0, 1]
    # stored with the reference and read back, the costs stay; a changed value is fitted again
    stored = ReferenceModels.from_json(ReferenceModels(fitted).to_json() or {})
    assert isinstance(stored.estimator, CBPE) and stored.estimator.costs == fitted.costs
    assert stored.fits(cfg.model_copy(update={"drift": cfg.drift.model_copy(update={"multivariate": False})}))
    dearer = cfg.model_copy(update={"value": cfg.value.model_copy(update={"false_negative": 9.0})})  # type: ignore[union-attr]
    assert not ReferenceModels(fitted).fits(
        dearer.model_copy(update={"drift": dearer.drift.model_copy(update={"multivariate": False})})
    )


def test_dle_estimates_an_asymmetric_cost():
    base = study.config("regression")
    cfg = ModelConfig.model_validate(
        {**base.model_dump(), "kpis": [{"metric": "cost", "target": 1.0}], "value": {"under": 3.0, "over": 1.0}}
    )
    world = study.worlds()["regression"]
    rng = np.random.default_rng(1)
    fitted = fit_estimator(world.draw(3000, rng), cfg)
    covered = 0
    for _ in range(10):  # a 95% band: most windows, not every one
        frame = world.draw(2000, rng)
        [kpi] = evaluate_kpis(frame, cfg, len(frame)).overall
        [e] = estimates(fitted, fitted.tally(fitted.row_values(frame)))
        covered += e.metric == "cost" and e.lower < kpi.value < e.upper
    assert covered >= 8
