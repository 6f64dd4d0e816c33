"""Stress tests: each perturbation does what it says at its strength, the config's names are the registered
ones, the suite is seeded, private columns are never touched, and a gate refuses a fragile challenger only."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pandas as pd
import pytest

from driftwarden.checks.stress import get_perturbation, perturbation_keys, run_suite
from driftwarden.checks.stress.base import describe_columns
from driftwarden.checks.stress.unseen_category import UNSEEN
from driftwarden.config.model import ModelConfig
from driftwarden.config.retrain import StressPerturbation


def config(**stress: object) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "name": "m",
            "task": "binary",
            "sources": {"predictions": {"path": "p.parquet"}, "reference": {"path": "r.parquet"}},
            "columns": {
                "timestamp": "ts",
                "id": "row",
                "numerical": ["x0", "x1", "ssn"],
                "categorical": ["colour"],
                "prediction": "pred",
                "probability": "proba",
                "target": "y",
            },
            "kpis": [{"metric": "accuracy", "target": 0.8}],
            "failures": {"mask": ["ssn"]},
            "retrain": {"stress": stress},
        }
    )


def holdout(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)  # what decides the label; x0 and x1 measure it equally well
    return pd.DataFrame(
        {
            "row": np.arange(n),
            "ts": pd.Timestamp("2026-01-01", tz="UTC"),
            "x0": z + rng.normal(0, 0.2, n),
            "x1": z + rng.normal(0, 0.2, n),
            "ssn": rng.integers(100, 999, n).astype(float),
            "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
            "y": (z + rng.normal(0, 0.3, n) > 0).astype(int),
        }
    )


class Rule:
    """P(1) from one feature, another standing in where it is missing; 0.5 (predicted positive) when both are."""

    classes_ = np.array(["0", "1"])

    def __init__(self, first: str, fallback: str | None = None):
        self.first, self.fallback = first, fallback

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        v = x[self.first] if self.fallback is None else x[self.first].fillna(x[self.fallback])
        p = np.nan_to_num(1 / (1 + np.exp(-3 * np.clip(v.to_numpy(dtype=float), -50, 50))), nan=0.5)
        return np.column_stack([1 - p, p])


def test_the_config_literal_names_exactly_the_registered_perturbations():
    assert sorted(get_args(StressPerturbation)) == perturbation_keys()
    assert config().retrain.stress.perturbations == list(get_args(StressPerturbation))


@pytest.mark.parametrize("strength", [0.1, 0.5])
def test_each_perturbation_does_what_it_says_at_its_strength(strength):
    frame = holdout(20_000)[["x0", "x1", "colour"]]
    before = frame.copy()
    cols = describe_columns(frame, ["x0", "x1"], ["colour"], important=("x0",))
    rng = lambda: np.random.default_rng(1)  # noqa: E731
    tol = 0.02

    noisy = get_perturbation("noise").apply(frame, cols, strength, rng())
    assert np.std(noisy["x0"] - frame["x0"]) == pytest.approx(strength * frame["x0"].std(), rel=0.05)

    gone = get_perturbation("missing").apply(frame, cols, strength, rng())
    assert gone["x1"].isna().mean() == pytest.approx(strength, abs=tol)
    assert gone["colour"].isna().mean() == pytest.approx(strength, abs=tol)

    swapped = get_perturbation("category_swap").apply(frame, cols, strength, rng())
    assert (swapped["colour"] != frame["colour"]).mean() == pytest.approx(strength, abs=tol)
    assert set(swapped["colour"]) == {"red", "green", "blue"}

    unseen = get_perturbation("unseen_category").apply(frame, cols, strength, rng())
    assert (unseen["colour"] == UNSEEN).mean() == pytest.approx(strength, abs=tol)

    for key, factor in (("scale_x100", 100), ("scale_x0.01", 0.01)):
        scaled = get_perturbation(key).apply(frame, cols, strength, rng())
        hit = ~np.isclose(scaled["x0"], frame["x0"])
        assert hit.mean() == pytest.approx(strength, abs=tol), key
        assert np.allclose(scaled["x0"][hit], frame["x0"][hit] * factor), key

    moved = get_perturbation("shift").apply(frame, cols, strength, rng())
    assert np.allclose(moved["x0"] - frame["x0"], strength * cols.spread["x0"])
    assert moved["x1"].equals(frame["x1"])  # only the important features move
    pd.testing.assert_frame_equal(frame, before)  # a perturbation returns a copy


def test_the_suite_is_seeded_and_never_touches_private_columns():
    cfg = config(strengths=[0.1, 0.5], worst_rows=20)
    models = {"champion": Rule("x0", "x1"), "challenger": Rule("x1")}
    rows = holdout(2000)
    first, again = run_suite(cfg, models, rows), run_suite(cfg, models, rows)
    strip = lambda r: {k: v for k, v in r.record().items() if k != "seconds"}  # noqa: E731
    assert strip(first) == strip(again)
    pd.testing.assert_frame_equal(first.worst, again.worst)
    assert strip(run_suite(config(strengths=[0.1, 0.5], worst_rows=20, seed=7), models, rows)) != strip(first)
    assert len(first.cells) == 7 * 2 and first.shifted[0] in ("x0", "x1") and "ssn" not in first.shifted
    assert {"ssn", "row", "y"}.isdisjoint(first.worst.columns) and {"x0", "colour"} <= set(first.worst.columns)
    assert set(first.worst["model"]) == {"champion", "challenger"} and (first.worst["harm"] > 0).all()
    assert first.worst.groupby("model").size().max() == 20
    # A stronger perturbation hurts more, and the clean holdout is the first line of the table.
    acc = {(c.perturbation, c.strength): c.scores["champion"]["accuracy"] for c in first.cells}
    assert acc[("noise", 0.5)] < acc[("noise", 0.1)] < first.clean["champion"]["accuracy"]
    assert acc[("missing", 0.5)] < acc[("missing", 0.1)]
    assert first.gates == () and first.refused_by is None  # advisory: no gate declared


def test_a_gate_refuses_a_challenger_fragile_under_missing_values_and_only_that_one():
    cfg = config(
        strengths=[0.1],
        gates=[{"perturbation": "missing", "strength": 0.1}, {"perturbation": "noise", "strength": 0.1}],
    )
    rows = holdout(3000, seed=1)
    fragile = run_suite(cfg, {"champion": Rule("x0", "x1"), "challenger": Rule("x0")}, rows)
    refused = fragile.refused_by
    assert refused is not None and (refused.perturbation, refused.strength) == ("missing", 0.1)
    assert refused.p_value is not None and refused.p_value < 0.01 and refused.challenger < refused.champion
    assert [g.refuses for g in fragile.gates] == [True, False]  # noise hurts both alike
    assert "missing at 0.1" in fragile.record()["refused_by"]["reason"]
    # As good and as robust (x1 measures what x0 does as well), on the same perturbed rows: no refusal.
    robust = run_suite(cfg, {"champion": Rule("x0", "x1"), "challenger": Rule("x1", "x0")}, rows)
    assert robust.refused_by is None and len(robust.gates) == 2
    assert all(g.p_value is not None and g.p_value > 0.05 for g in robust.gates)


def test_a_model_that_crashes_on_perturbed_rows_is_a_finding_not_an_error():
    class NoMissing(Rule):
        def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
            if x[self.first].isna().any():
                raise ValueError("Input X contains NaN")
            return super().predict_proba(x)

    cfg = config(strengths=[0.1], gates=[{"perturbation": "missing", "strength": 0.1}])
    result = run_suite(cfg, {"champion": Rule("x0", "x1"), "challenger": NoMissing("x0")}, holdout(1000))
    cell = next(c for c in result.cells if c.perturbation == "missing")
    assert "NaN" in cell.errors["challenger"] and "challenger" not in cell.scores
    assert result.refused_by is not None and result.refused_by.perturbation == "missing"
