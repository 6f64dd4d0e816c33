"""GX validation: a clean night passes, each injected fault fails with its rows collected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftwarden.checks.profile import build_profile
from driftwarden.checks.validation import validate_batch
from driftwarden.config.model import ModelConfig

NUM = ["income", "age", "score"]


def batch(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"r{seed}-{i}" for i in range(n)],
            "income": rng.lognormal(10.8, 0.45, n),  # heavy right tail
            "age": np.clip(rng.normal(42, 11, n), 18, 85).round(),
            "score": rng.normal(0, 1, n),
            "segment": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "p": rng.uniform(0, 1, n),
            "pred": rng.integers(0, 2, n),
        }
    )


def config(**validation) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "name": "t",
            "task": "binary",
            "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
            "columns": {
                "timestamp": "ts",
                "id": "id",
                "numerical": NUM,
                "categorical": ["segment"],
                "prediction": "pred",
                "probability": "p",
                "target": "y",
            },
            "validation": validation,
        }
    )


@pytest.fixture(scope="module")
def profile():
    return build_profile(batch(5000, 0), NUM + ["p"], ["segment"])


def test_clean_nights_pass(profile):
    cfg = config()
    failed = [seed for seed in range(1, 61) if not validate_batch(batch(2500, seed), cfg, profile).success]
    assert failed == []  # 60 clean heavy-tailed nights, no false alarm


def test_nulls_beyond_tolerance_fail_with_rows(profile):
    b = batch(2000, 7)
    b.loc[b.index[:100], "income"] = np.nan  # 5% nulls vs 0% in the reference + 2% tolerance
    result = validate_batch(b, config(), profile)
    assert not result.success
    [failed] = result.failed
    assert failed.column == "income" and failed.bad_share == pytest.approx(0.05)
    assert failed.detail == "income present (reference null share 0.00%): 5.00% of rows break it, at most 2.00% allowed"
    [rows] = result.failing_rows
    assert rows.reason == "null_value" and len(rows.positions) == 100
    b.loc[b.index[:100], "income"] = 1.0
    b.loc[b.index[:20], "income"] = np.nan  # 1%: within tolerance
    assert validate_batch(b, config(), profile).success


def test_unseen_categories_fail_only_above_the_share(profile):
    b = batch(2000, 8)
    b.loc[b.index[:10], "segment"] = "zz"  # 0.5% < 1%
    assert validate_batch(b, config(), profile).success
    b.loc[b.index[:60], "segment"] = "zz"  # 3%
    result = validate_batch(b, config(), profile)
    assert [o.column for o in result.failed] == ["segment"]
    assert result.failing_rows[0].reason == "unseen_category" and len(result.failing_rows[0].positions) == 60


def test_out_of_range_values_and_bad_probabilities_fail(profile):
    b = batch(2000, 9)
    b.loc[b.index[:40], "age"] = 420  # a unit bug in 2% of rows
    b.loc[b.index[5], "p"] = 1.7
    result = validate_batch(b, config(), profile)
    assert sorted(o.column for o in result.failed) == ["age", "p"]
    reasons = {(r.reason, r.column): len(r.positions) for r in result.failing_rows}
    assert reasons == {("out_of_range", "age"): 40, ("out_of_range", "p"): 1}


def test_duplicate_ids_fail(profile):
    b = batch(1000, 10)
    b.loc[b.index[1], "id"] = b.loc[b.index[0], "id"]
    result = validate_batch(b, config(), profile)
    assert [o.rule for o in result.failed] == ["id unique"]
    assert result.failing_rows[0].positions == (0, 1)


def test_explicit_ranges_and_categories_override_the_reference(profile):
    b = batch(1000, 11)
    cfg = config(ranges={"age": [18, 60]}, allowed_categories={"segment": ["a", "b"]})
    failed = {o.column for o in validate_batch(b, cfg, profile).failed}
    assert failed == {"age", "segment"}


def test_messages_say_what_share_broke_the_rule(profile):
    b = batch(2000, 12)
    b.loc[b.index[:60], "segment"] = "zz"
    [failed] = validate_batch(b, config(), profile).failed
    assert failed.detail == (
        "segment in the 4 known categories: 3.00% of rows break it, at most 1.00% allowed (e.g. 'zz')"
    )  # a few of the breaking values shown


def test_ranges_of_never_negative_columns_stay_non_negative(profile):
    from driftwarden.checks.validation import inferred_range

    assert inferred_range(profile, "income", 1.5)[0] == 0.0  # lognormal: q0.001 - 1.5 IQR would be < 0
    assert inferred_range(profile, "score", 1.5)[0] < -3  # a standard normal keeps its robust lower bound


def test_tolerances_respect_sampling_noise():
    from driftwarden.checks.validation import null_allowance, unseen_allowance

    assert null_allowance(0.0, 2500, 5000, 0.02) == pytest.approx(0.02)  # nothing to be noisy about
    wide = null_allowance(0.30, 1000, 5000, 0.02)
    assert wide == pytest.approx(0.30 + 4 * (0.21 * (1 / 1000 + 1 / 5000)) ** 0.5)  # 4 SE of two 30% shares
    tail = {"common": 4700, **{f"rare{i}": 1 for i in range(300)}}  # 300 categories seen once in 5,000 rows
    assert unseen_allowance(tail, 0.01) == pytest.approx(0.01 + 300 / 5000)
    assert unseen_allowance({"a": 500, "b": 500}, 0.01) == 0.01


def test_clean_nights_with_a_null_heavy_reference_pass():
    rng = np.random.default_rng(13)

    def with_nulls(n, seed):
        b = batch(n, seed)
        b.loc[np.random.default_rng(seed).uniform(size=n) < 0.3, "score"] = np.nan
        return b

    prof = build_profile(with_nulls(5000, 0), NUM + ["p"], ["segment"])
    failed = sum(
        not validate_batch(with_nulls(1000, int(s)), config(), prof).success for s in rng.integers(1, 10**6, 40)
    )
    assert failed == 0


def test_a_tiny_reference_infers_no_range_or_category_set_and_says_so():
    # Ten reference rows: their min and max would be the range and clean rows would breach it.
    small = build_profile(batch(10, 0), NUM + ["p"], ["segment"])
    result = validate_batch(batch(2000, 3), config(), small)
    assert result.success
    texts = " ".join(o.rule for o in result.outcomes)
    assert "validation.min_reference_rows (100)" in texts
    # A declared range is still enforced on the same tiny reference.
    b = batch(2000, 4)
    b.loc[b.index[:40], "age"] = 420
    declared = validate_batch(b, config(ranges={"age": [0, 120]}), small)
    assert [o.column for o in declared.failed] == ["age"]
