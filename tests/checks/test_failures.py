"""Failure samples: the worst first, bounded, with reasons, masked and excluded columns respected."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftwarden.checks.failures import select_failures
from driftwarden.config.model import ModelConfig


def cfg(**failures) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": "f", "task": "binary",
        "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
        "columns": {"timestamp": "ts", "id": "id", "numerical": ["x"], "categorical": ["email"],
                    "prediction": "pred", "probability": "p", "target": "y"},
        "failures": failures,
    })  # fmt: skip


def frame() -> pd.DataFrame:
    # a tuned cut-off of 0.10: p = 0.11 predicts 1 with little confidence; p = 0.86 is a confident 1
    return pd.DataFrame({
        "id": ["a", "b", "c", "d"], "x": [1.0, 2.0, 3.0, 4.0], "email": ["a@x", "b@x", "c@x", "d@x"],
        "p": [0.11, 0.86, 0.02, 0.5], "pred": [1, 1, 0, 1], "y": [0, 0, 0, 1],
    })  # fmt: skip


def test_confident_mistakes_use_the_probability_of_the_predicted_class():
    samples = select_failures(None, frame(), cfg(max_per_run=10))
    by_id = {s.row_id: s for s in samples}
    assert set(by_id) == {"a", "b"}  # c and d were right
    assert by_id["b"].reason == "confident_mistake" and by_id["b"].score == 0.86
    assert by_id["a"].reason == "misclassified" and by_id["a"].score == 0.11


def test_budget_masking_and_exclusion():
    rng = np.random.default_rng(0)
    n = 500
    big = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "x": rng.normal(size=n), "email": "p@x",
                        "p": rng.uniform(size=n), "y": rng.integers(0, 2, n)})  # fmt: skip
    big["pred"] = (big["p"] > 0.5).astype(int)
    samples = select_failures(None, big, cfg(max_per_run=20, mask=["email"], exclude=["x"]))
    assert len(samples) == 20
    confident = [s.score for s in samples if s.reason == "confident_mistake"]
    assert confident == sorted(confident, reverse=True) and min(confident) >= 0.8
    assert all(set(s.features) == {"email"} and s.features["email"].startswith("hmac:") for s in samples)


def test_a_private_label_prediction_probability_or_version_never_leaves_in_any_field():
    """Masking or excluding the target, prediction, probability or model version covers the sample's own
    fields too, and the score and detail made of their values (a confidence is the probability)."""
    data = frame().assign(mv="SECRET-V")
    base = cfg().model_dump()
    base["columns"]["model_version"] = "mv"
    base["failures"] = {"mask": ["y", "mv"], "exclude": ["pred", "p"], "max_per_run": 10}
    c = ModelConfig.model_validate(base)
    samples = select_failures(None, data, c, b"k")
    assert {s.row_id for s in samples} == {"a", "b"}
    for s in samples:
        assert s.prediction is None and s.score is None and "withheld" in s.detail, s
        assert str(s.label).startswith("hmac:") and str(s.model_version).startswith("hmac:"), s
        assert "SECRET" not in repr(s) and "0.86" not in repr(s)


def test_a_segment_column_cannot_be_masked():
    import pytest

    with pytest.raises(ValueError, match=r"failures.mask names segment columns \['email'\]"):
        ModelConfig.model_validate({**cfg().model_dump(), "segments": ["email"], "failures": {"mask": ["email"]}})
