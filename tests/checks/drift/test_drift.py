"""Drift on seeded, known shifts (no Prefect): quiet on clean data, loud on real shifts, honest on small."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftwarden.checks.drift import detect_drift, jensenshannon_counts, wasserstein_norm
from driftwarden.checks.profile import build_profile
from driftwarden.config.model import DriftConfig
from tests.streams import AGRAWAL_CAT, AGRAWAL_NUM, agrawal

NUM = [f"x{i}" for i in range(6)]


def frame(n: int, seed: int, shift: dict[str, float] | None = None, cat_p=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, len(NUM))), columns=NUM)
    for col, delta in (shift or {}).items():
        df[col] += delta
    df["colour"] = rng.choice(["red", "green", "blue"], n, p=list(cat_p))
    return df


@pytest.fixture(scope="module")
def profile():
    return build_profile(frame(5000, 0), NUM, ["colour"])


def test_clean_batches_do_not_drift(profile):
    flagged = 0
    for seed in range(1, 41):
        result = detect_drift(frame(2500, seed), profile, DriftConfig(), [*NUM, "colour"])
        flagged += len(result.drifted_features)
        assert result.dataset_drifted is False
    assert flagged == 0  # 40 clean nights x 7 features: not one false alarm


def test_injected_shift_is_flagged_and_only_there(profile):
    result = detect_drift(
        frame(2500, 99, {"x0": 0.3, "x3": -0.5}, cat_p=(0.2, 0.3, 0.5)),
        profile,
        DriftConfig(),
        [*NUM, "colour"],
    )
    assert sorted(result.drifted_features) == ["colour", "x0", "x3"]
    assert result.get("x0").method == "wasserstein" and result.get("colour").method == "jensenshannon"
    assert result.share == pytest.approx(3 / 7)
    assert result.dataset_drifted is False  # 3/7 < the default rule of 0.5
    weighted = detect_drift(
        frame(2500, 99, {"x0": 0.3, "x3": -0.5}, cat_p=(0.2, 0.3, 0.5)),
        profile,
        DriftConfig(weights={"x0": 5, "x3": 5}),
        [*NUM, "colour"],
    )
    assert weighted.dataset_drifted is True  # the important features moved


def test_small_windows_are_not_evaluated_never_drifted(profile):
    result = detect_drift(frame(DriftConfig().min_rows - 1, 5, {"x0": 3.0}), profile, DriftConfig(), [*NUM, "colour"])
    assert all(c.drifted is None and c.method == "none" for c in result.features)
    assert result.dataset_drifted is None and result.share is None
    assert "min_rows" in result.features[0].note


def test_below_large_sample_uses_holm_corrected_p_values(profile):
    cfg = DriftConfig(min_rows=100, large_sample=1000)
    shifted = detect_drift(frame(400, 6, {"x1": 0.5}), profile, cfg, [*NUM, "colour"])
    x1 = shifted.get("x1")
    assert x1.method == "ks" and x1.drifted is True and x1.value < 1e-6
    assert shifted.get("colour").method == "chisquare"
    clean = [detect_drift(frame(400, s), profile, cfg, NUM) for s in range(10, 30)]
    assert sum(len(r.drifted_features) for r in clean) <= 2  # family-wise 5% per night


def test_values_match_evidently():
    """Our normed Wasserstein and Jensen-Shannon equal Evidently 0.7's own ValueDrift values."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    ref, cur = frame(3000, 1), frame(2000, 2, {"x2": 0.4}, cat_p=(0.3, 0.3, 0.4))
    definition = DataDefinition(numerical_columns=NUM, categorical_columns=["colour"])
    metrics = [
        ValueDrift(column="x2", method="wasserstein"),
        ValueDrift(column="colour", method="jensenshannon"),
    ]
    snapshot = Report(metrics).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    values = {m["config"]["column"]: float(m["value"]) for m in snapshot.dict()["metrics"]}
    ours = detect_drift(cur, build_profile(ref, NUM, ["colour"]), DriftConfig(), [*NUM, "colour"])
    assert ours.get("x2").value == pytest.approx(values["x2"], rel=1e-9)
    assert ours.get("colour").value == pytest.approx(values["colour"], rel=1e-9)


def test_helpers_agree_with_definitions():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=4000), rng.normal(0.5, 1, 3000)
    assert wasserstein_norm(np.sort(a), b, a.std()) == pytest.approx(0.5, abs=0.06)
    assert jensenshannon_counts({"a": 10}, {"a": 5}) == 0.0
    assert jensenshannon_counts({"a": 10}, {"b": 5}) == pytest.approx(np.sqrt(np.log(2)))


def test_agrawal_inputs_stay_quiet_across_the_concept_change():
    """Real stream: P(X) is unchanged at row 10000, so no feature drifts before or after it."""
    df = agrawal()
    profile = build_profile(df.iloc[5000:10000], AGRAWAL_NUM, AGRAWAL_CAT)
    for start in range(10000, 20000, 2000):
        result = detect_drift(df.iloc[start : start + 2000], profile, DriftConfig(), AGRAWAL_NUM + AGRAWAL_CAT)
        assert result.drifted_features == [], (start, result.note)
        assert result.dataset_drifted is False


def test_infinite_values_are_dropped_not_drift(profile):
    cur = frame(2500, 41)
    cur.loc[cur.index[0], "x0"] = np.inf
    assert detect_drift(cur, profile, DriftConfig(), NUM).get("x0").drifted is False
    ref = frame(5000, 0)
    ref.loc[ref.index[0], "x1"] = -np.inf
    shifted = detect_drift(frame(2500, 42, {"x1": 3.0}), build_profile(ref, NUM, []), DriftConfig(), NUM)
    assert shifted.get("x1").drifted is True


def test_many_categories_do_not_drift_on_sampling_noise_alone():
    rng = np.random.default_rng(11)
    cats = [f"c{i:03d}" for i in range(100)]
    ref = pd.DataFrame({"k": rng.choice(cats, 5000)})
    prof = build_profile(ref, [], ["k"])
    clean = [detect_drift(pd.DataFrame({"k": rng.choice(cats, 1000)}), prof, DriftConfig(), ["k"]) for _ in range(20)]
    assert sum(r.get("k").drifted for r in clean) == 0
    assert all(r.get("k").threshold > 0.1 and "noise floor" in r.get("k").note for r in clean)
    moved = rng.choice(cats[:50], 1000)  # half the categories vanish
    assert detect_drift(pd.DataFrame({"k": moved}), prof, DriftConfig(), ["k"]).get("k").drifted is True


def test_method_is_chosen_from_both_samples_like_evidently():
    rng = np.random.default_rng(12)
    levels = np.array([0.05, 0.1, 0.15, 0.2])
    ref = pd.DataFrame({"rate": rng.choice(levels, 5000)})
    cur = pd.DataFrame({"rate": rng.choice(levels, 2500).astype(np.float32)})  # 0.1 != float32(0.1)
    result = detect_drift(cur, build_profile(ref, ["rate"], []), DriftConfig(), ["rate"])
    assert result.get("rate").method == "wasserstein" and result.get("rate").drifted is False


def test_prediction_and_target_drift_are_reported_apart_never_in_the_share():
    rng = np.random.default_rng(21)
    ref = frame(5000, 0).assign(p=rng.beta(2, 5, 5000), y=rng.choice(["0", "1"], 5000, p=[0.8, 0.2]))
    prof = build_profile(ref, [*NUM, "p"], ["colour", "y"])
    cur = frame(2500, 22).assign(p=rng.beta(5, 2, 2500))  # the scores moved, the inputs did not
    labels = pd.Series(rng.choice(["0", "1"], 2500, p=[0.4, 0.6]))  # and so did the outcomes
    result = detect_drift(cur, prof, DriftConfig(), [*NUM, "colour"], prediction="p", target=labels, target_name="y")
    assert result.get("p").role == "prediction" and result.get("p").drifted is True
    assert result.get("y").role == "target" and result.get("y").drifted is True
    assert result.drifted_features == [] and result.share == 0.0 and result.dataset_drifted is False
    assert [c.column for c in result.features] == [*NUM, "colour"]


def test_a_drift_confined_to_a_tail_is_not_ruled_out_and_clean_inputs_are(profile):
    """0.1% of rows moved 100 reference stds barely moves the mean, but its W1 is 0.1: a bound on the mean's
    noise alone would rule it out; with the window's own spread it does not. A clean window of 5,000 rows is
    ruled out in every feature."""
    clean = detect_drift(frame(5000, 11, {}), profile, DriftConfig(), [*NUM, "colour"])
    assert clean.ruled_out and not clean.drifted_features
    tail = frame(3000, 12, {})
    std = float(np.std(profile.numeric["x0"].values()))
    tail.loc[tail.index[:3], "x0"] += 100 * std
    x0 = detect_drift(tail, profile, DriftConfig(), [*NUM, "colour"]).get("x0")
    assert not x0.ruled_out and x0.bound is not None and x0.bound >= 0.1


@pytest.mark.parametrize(("categories", "rows"), [(4, 300), (20, 2000)])
def test_a_categorical_drift_at_the_threshold_is_rarely_ruled_out(categories, rows):
    """The Jensen-Shannon bound is a 95% one: a drift exactly at the threshold is ruled out in at most 8% of
    300 simulated windows (5% by design; the binomial noise of 300 draws is about 1.3%)."""
    from scipy.optimize import brentq
    from scipy.spatial import distance

    from driftwarden.checks.drift.rules import js_upper_bound

    rng = np.random.default_rng(categories)
    p = rng.dirichlet(np.ones(categories) * 3)
    towards = np.eye(categories)[0]
    t = brentq(lambda t: distance.jensenshannon(p, (1 - t) * p + t * towards) - 0.1, 0, 1)
    q = (1 - t) * p + t * towards
    ruled = 0
    for _ in range(300):
        a, b = rng.multinomial(5000, p), rng.multinomial(rows, q)
        measured = float(distance.jensenshannon(a / a.sum(), b / b.sum()))
        ruled += js_upper_bound(measured, categories, rows, 5000) < 0.1
    assert ruled <= 0.08 * 300
