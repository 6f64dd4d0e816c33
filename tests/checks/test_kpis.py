"""KPIs: intervals, the breach rule (evidence, not noise), not-evaluated cases, per model version."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from driftwarden.checks.kpis import delong_auc, evaluate_kpis, wilson
from driftwarden.config.model import ModelConfig


def cfg(task="binary", kpis=None, **extra) -> ModelConfig:
    cols = {
        "timestamp": "ts",
        "id": "id",
        "numerical": ["x"],
        "prediction": "pred",
        "target": "y",
        "model_version": "mv",
    }
    if task == "binary":
        cols["probability"] = "p"
    return ModelConfig.model_validate(
        {
            "name": "t",
            "task": task,
            "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
            "columns": cols,
            "kpis": kpis or [{"metric": "accuracy", "target": 0.9, "min_labelled": 50}],
            **extra,
        }
    )


def labelled(n: int, accuracy: float, seed: int = 0, versions=("v1",)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    right = rng.uniform(size=n) < accuracy
    pred = np.where(right, y, 1 - y)
    p = np.clip(np.where(pred == 1, 0.7, 0.3) + rng.normal(0, 0.1, n), 0, 1)
    return pd.DataFrame({"y": y, "pred": pred, "p": p, "mv": rng.choice(versions, n)})


def level(result, metric="accuracy", segment="all"):
    return next(v for v in result.values if v.metric == metric and v.segment == segment)


def test_wilson_interval_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    for k, n in [(11, 24), (0, 30), (198, 200), (1700, 2000)]:
        assert wilson(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-9)


def test_one_window_slightly_below_target_is_a_warning_not_a_breach():
    # 200 rows at true accuracy 0.88 vs target 0.9: below, but the interval straddles the target.
    v = level(evaluate_kpis(labelled(200, 0.88, seed=3), cfg(), 200))
    assert v.value < 0.9 < v.upper
    assert v.level == "warning" and v.passed is False


def test_interval_wholly_below_the_target_is_a_breach():
    v = level(evaluate_kpis(labelled(2000, 0.75), cfg(), 2000))
    assert v.level == "breach" and v.upper < 0.9


def test_consecutive_windows_below_target_breach():
    data = labelled(200, 0.88, seed=3)
    assert level(evaluate_kpis(data, cfg(), 200, {"accuracy": [True]})).level == "warning"
    assert level(evaluate_kpis(data, cfg(), 200, {"accuracy": [True, True]})).level == "breach"
    assert level(evaluate_kpis(data, cfg(), 200, {"accuracy": [True, False]})).level == "warning"


def test_the_consecutive_history_walks_the_window_grid_and_a_gap_ends_the_streak():
    """Wrong side on Feb 1 and 2, nothing stored for Feb 3-9, wrong again on Feb 10: that is one window
    below target, not three in a row. An immature or failed (no row) window ends a streak the same way."""
    from driftwarden.checks.records import kpi_history

    def row(day: int, wrong: bool | None, mature: bool = True) -> dict:
        details = {"mature": mature, "wrong_side": wrong}
        return {
            "name": "accuracy",
            "segment": "all",
            "window_start": pd.Timestamp(f"2026-02-{day:02d}"),
            "details": details,
        }

    rows = pd.DataFrame([row(1, True), row(2, True), row(8, True, mature=False), row(9, True)])
    days = lambda *d: [pd.Timestamp(f"2026-02-{x:02d}", tz="UTC") for x in d]  # noqa: E731
    assert kpi_history(rows, "accuracy", days(1, 2)) == [True, True]  # for Feb 3: a real streak
    assert kpi_history(rows, "accuracy", days(8, 9)) == [True]  # for Feb 10: Feb 8 was not mature
    assert kpi_history(rows, "accuracy", days(6, 7)) == []  # for Feb 8: nothing stored before it
    assert kpi_history(rows, "accuracy", days(2, 3)) == []  # for Feb 4: Feb 3 missing ends it at once
    tz = [pd.Timestamp("2026-02-01", tz="UTC").tz_convert("Europe/Berlin")]  # aware starts match stored UTC
    assert kpi_history(rows, "accuracy", tz) == [True]
    data = labelled(200, 0.88, seed=3)
    assert level(evaluate_kpis(data, cfg(), 200, {"accuracy": kpi_history(rows, "accuracy", days(8, 9))})).level == (
        "warning"
    )


def test_too_few_labels_or_immature_labels_are_not_alarms():
    few = level(evaluate_kpis(labelled(30, 0.5), cfg(), 30))
    assert few.level == "not_evaluated" and few.value is None and few.passed is None
    immature = level(evaluate_kpis(labelled(500, 0.5), cfg(), 2500))  # 20% coverage
    assert immature.level == "pending" and immature.value is not None and immature.passed is None


def test_auc_needs_both_classes():
    data = labelled(300, 0.9)
    data["y"] = 1
    v = level(evaluate_kpis(data, cfg(kpis=[{"metric": "roc_auc", "target": 0.8}]), 300), "roc_auc")
    assert v.level == "not_evaluated" and "one class" in v.note


def test_delong_interval_is_centred_on_sklearn_auc():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 1500)
    s = y + rng.normal(0, 1.2, 1500)
    auc, lo, hi = delong_auc(y, s)
    assert auc == pytest.approx(roc_auc_score(y, s))
    assert lo < auc < hi and hi - lo < 0.06


def test_kpis_are_kept_per_model_version():
    data = pd.concat([labelled(600, 0.95, 1, ("v1",)), labelled(600, 0.6, 2, ("v2",))])
    result = evaluate_kpis(data, cfg(), 1200)
    assert level(result, segment="model_version=v1").level == "ok"
    assert level(result, segment="model_version=v2").level == "breach"


def test_regression_kpis_have_direction_and_intervals():
    rng = np.random.default_rng(5)
    y = rng.normal(10, 2, 800)
    frame = pd.DataFrame({"y": y, "pred": y + rng.normal(0, 1, 800), "mv": "r1"})
    c = cfg(
        "regression",
        kpis=[
            {"metric": "mae", "target": 1.0},
            {"metric": "r2", "target": 0.9},
            {"metric": "rmse", "target": 2.0},
        ],
    )
    result = evaluate_kpis(frame, c, 800)
    mae, r2, rmse = (level(result, m) for m in ("mae", "r2", "rmse"))
    assert mae.value == pytest.approx(0.8, abs=0.06) and mae.lower < mae.value < mae.upper
    assert mae.level == "ok" and mae.direction == "lower_is_better"
    assert r2.level == "breach" and r2.direction == "higher_is_better"  # ~0.8 vs target 0.9
    assert rmse.level == "ok"


def test_multiclass_macro_metrics():
    rng = np.random.default_rng(6)
    y = rng.choice(["a", "b", "c"], 900)
    pred = np.where(rng.uniform(size=900) < 0.8, y, rng.choice(["a", "b", "c"], 900))
    probs = pd.get_dummies(pred).astype(float).to_numpy() * 0.8 + 0.2 / 3
    frame = pd.DataFrame({"y": y, "pred": pred, "pa": probs[:, 0], "pb": probs[:, 1], "pc": probs[:, 2]})
    c = ModelConfig.model_validate(
        {
            "name": "m",
            "task": "multiclass",
            "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
            "columns": {
                "timestamp": "ts",
                "id": "id",
                "numerical": ["x"],
                "prediction": "pred",
                "target": "y",
                "probabilities": {"a": "pa", "b": "pb", "c": "pc"},
            },
            "kpis": [
                {"metric": "f1", "target": 0.7},
                {"metric": "roc_auc", "target": 0.7},
                {"metric": "log_loss", "target": 1.0},
            ],
        }
    )
    result = evaluate_kpis(frame, c, 900)
    assert {v.metric: v.level for v in result.overall} == {"f1": "ok", "roc_auc": "ok", "log_loss": "ok"}


def test_boolean_and_text_labels_agree_with_integer_predictions():
    data = labelled(1000, 0.9, seed=8)
    expected = level(evaluate_kpis(data, cfg(), 1000)).value
    for form in (data["y"].astype(bool), data["y"].astype(float).astype(str)):  # True/False, "1.0"/"0.0"
        v = level(evaluate_kpis(data.assign(y=form), cfg(), 1000))
        assert v.value == pytest.approx(expected) and v.level == "ok"


def test_a_class_absent_from_the_window_does_not_break_a_perfect_model():
    y = np.array(["a", "b"] * 300)  # class c did not occur tonight
    probs = np.where(y[:, None] == np.array(["a", "b", "c"]), 0.9, 0.05)
    frame = pd.DataFrame({"y": y, "pred": y, "pa": probs[:, 0], "pb": probs[:, 1], "pc": probs[:, 2]})
    c = ModelConfig.model_validate({
        "name": "m", "task": "multiclass",
        "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
        "columns": {"timestamp": "ts", "id": "id", "numerical": ["x"], "prediction": "pred", "target": "y",
                    "probabilities": {"a": "pa", "b": "pb", "c": "pc"}},
        "kpis": [{"metric": m, "target": 0.9} for m in ("recall", "f1", "roc_auc")],
    })  # fmt: skip
    result = evaluate_kpis(frame, c, 600)
    assert {v.metric: (v.value, v.level) for v in result.overall} == {
        "recall": (1.0, "ok"), "f1": (1.0, "ok"), "roc_auc": (1.0, "ok")}  # fmt: skip


def test_predictions_into_a_class_that_did_not_occur_count_against_precision_and_f1():
    """Class c never occurred tonight but the model predicted it for 100 rows: those are wrong predictions.
    Macro precision and F1 match scikit-learn's default (labels and predictions); recall keeps to the labels."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    y = np.array(["a", "b"] * 300)
    pred = y.copy()
    pred[:100] = "c"
    probs = np.where(pred[:, None] == np.array(["a", "b", "c"]), 0.9, 0.05)
    frame = pd.DataFrame({"y": y, "pred": pred, "pa": probs[:, 0], "pb": probs[:, 1], "pc": probs[:, 2]})
    c = ModelConfig.model_validate({
        "name": "m", "task": "multiclass",
        "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
        "columns": {"timestamp": "ts", "id": "id", "numerical": ["x"], "prediction": "pred", "target": "y",
                    "probabilities": {"a": "pa", "b": "pb", "c": "pc"}},
        "kpis": [{"metric": m, "target": 0.9} for m in ("precision", "recall", "f1")],
    })  # fmt: skip
    got = {v.metric: v.value for v in evaluate_kpis(frame, c, 600).overall}
    assert got["precision"] == pytest.approx(precision_score(y, pred, average="macro", zero_division=0))
    assert got["f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
    assert got["recall"] == pytest.approx(recall_score(y, pred, labels=["a", "b"], average="macro"))
    assert got["precision"] < 0.7  # 2/3: class c's precision is 0, not left out


def test_rmsle_of_values_at_or_below_minus_one_is_not_evaluated_and_the_rest_goes_on():
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1, 500)
    frame = pd.DataFrame({"y": y, "pred": y + rng.normal(0, 0.1, 500), "mv": "r"})
    c = cfg("regression", kpis=[{"metric": "rmsle", "target": 0.5}, {"metric": "mae", "target": 0.5}])
    got = {v.metric: v for v in evaluate_kpis(frame, c, 500).overall}
    assert got["rmsle"].value is None and got["rmsle"].level == "not_evaluated", got["rmsle"]
    assert "at or below -1" in got["rmsle"].note
    assert got["mae"].level == "ok"


def test_large_windows_get_analytic_intervals_that_match_the_bootstrap():
    rng = np.random.default_rng(9)
    y = rng.normal(0, 1, 30_000)
    frame = pd.DataFrame({"y": y, "pred": y + rng.standard_t(5, 30_000), "mv": "r"})
    c = cfg("regression", kpis=[{"metric": "mae", "target": 2.0}, {"metric": "rmse", "target": 2.0}])
    big = {v.metric: v for v in evaluate_kpis(frame, c, 30_000).overall}
    small = {v.metric: v for v in evaluate_kpis(frame.iloc[:19_000], c, 19_000).overall}  # bootstrap
    for m in ("mae", "rmse"):
        width_big, width_small = big[m].upper - big[m].lower, small[m].upper - small[m].lower
        assert width_big == pytest.approx(width_small * np.sqrt(19_000 / 30_000), rel=0.25)


def test_a_loss_of_few_values_gets_the_bootstrap_of_its_rows():
    """A cost per decision takes a few values: its bootstrap draws how many rows of each value a resample holds
    instead of each row. Same distribution: over many seeds, its intervals match the row-by-row bootstrap's."""
    from driftwarden.checks import kpis

    rng = np.random.default_rng(3)
    loss = rng.choice([0.0, 10.0, 25.0, 100.0], size=2_500, p=[0.6, 0.2, 0.15, 0.05])
    fast = kpis._mean_loss_interval(loss, root=False)
    assert fast[0] == loss.mean() and fast[1] < loss.mean() < fast[2]
    row_by_row = []
    for seed in range(40):
        w = np.random.default_rng(seed).multinomial(len(loss), np.full(len(loss), 1 / len(loss)), size=200)
        row_by_row.append(np.quantile(w @ loss / len(loss), [0.025, 0.975]))
    lo, hi = np.mean(row_by_row, axis=0)
    sd = np.std(row_by_row, axis=0)
    assert abs(fast[1] - lo) < 3 * sd[0] and abs(fast[2] - hi) < 3 * sd[1], (fast, lo, hi, sd)
    half = 1.96 * loss.std(ddof=1) / np.sqrt(len(loss))  # and the central limit's width
    assert fast[2] - fast[1] == pytest.approx(2 * half, rel=0.15)
    distinct = rng.normal(size=300)  # as many values as rows: the rows are drawn
    assert kpis._mean_loss_interval(distinct, root=False)[1] < distinct.mean()


def test_kpis_are_sliced_by_segment():
    data = pd.concat([labelled(800, 0.95, 1).assign(region="north"), labelled(800, 0.6, 2).assign(region="south")])
    result = evaluate_kpis(data, cfg(segments=["region"]), 1600)
    assert level(result, segment="region=north").level == "ok"
    assert level(result, segment="region=south").level == "breach"
    assert level(result).segment == "all"
