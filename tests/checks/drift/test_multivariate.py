"""Multivariate drift by PCA reconstruction (seeded, no Prefect): it sees a joint change no marginal shows,
stays quiet on clean windows, and chunks, merges and round-trips exactly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from driftwarden.checks.drift import detect_drift
from driftwarden.checks.drift.multivariate import (
    MIN_REFERENCE_ROWS,
    MultivariateDrift,
    PcaFit,
    ReconstructionSum,
    fit_pca,
    judge,
)
from driftwarden.checks.profile import build_profile
from driftwarden.config.model import DriftConfig

NUM = ["a", "b", "x0", "x1", "x2"]
CAT = ["colour"]
COLOURS = (["red", "green", "blue", "grey"], [0.4, 0.3, 0.2, 0.1])


def population(rng: np.random.Generator, n: int, rho: float = 0.8) -> pd.DataFrame:
    """a and b standard normal with correlation rho (the marginals do not depend on it), three independent
    normals, a categorical."""
    a = rng.standard_normal(n)
    b = rho * a + np.sqrt(1 - rho * rho) * rng.standard_normal(n)
    frame = pd.DataFrame({"a": a, "b": b, **{f"x{i}": rng.standard_normal(n) for i in range(3)}})
    frame["colour"] = rng.choice(COLOURS[0], n, p=COLOURS[1])
    return frame


def window_drift(fit: PcaFit, *chunks: pd.DataFrame) -> MultivariateDrift:
    acc = ReconstructionSum()
    for chunk in chunks:
        acc.add(fit, chunk)
    return judge(fit, acc)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return population(np.random.default_rng(0), 5000)


@pytest.fixture(scope="module")
def fit(reference) -> PcaFit:
    found = fit_pca(reference, NUM, CAT)
    assert isinstance(found, PcaFit), found
    return found


def test_a_correlation_flip_drifts_while_every_marginal_is_unchanged(reference, fit):
    rng = np.random.default_rng(1)
    flipped = population(rng, 1000, rho=-0.8)
    result = window_drift(fit, flipped)
    assert result.drifted
    assert result.error > result.threshold + 0.1  # not a near thing: the error rises by ~0.2, the margin is ~0.03
    # the same size, same population but the correlation: quiet
    assert not window_drift(fit, population(rng, 1000)).drifted
    # marginals unchanged: KS per numerical feature, chi-square on the categorical, and the house's own check
    for col in NUM:
        assert stats.ks_2samp(reference[col], flipped[col]).pvalue > 0.01, col
    counts = pd.crosstab(
        np.r_[np.zeros(len(reference)), np.ones(len(flipped))], np.r_[reference["colour"], flipped["colour"]]
    )
    assert stats.chi2_contingency(counts).pvalue > 0.01
    univariate = detect_drift(flipped, build_profile(reference, NUM, CAT), DriftConfig(), [*NUM, *CAT])
    assert univariate.drifted_features == []
    # while the correlation did flip
    assert np.corrcoef(reference["a"], reference["b"])[0, 1] > 0.75
    assert np.corrcoef(flipped["a"], flipped["b"])[0, 1] < -0.75


def test_a_weaker_correlation_change_is_still_seen(fit):
    rng = np.random.default_rng(2)
    assert window_drift(fit, population(rng, 1000, rho=0.4)).drifted
    assert window_drift(fit, population(rng, 5000, rho=0.6)).drifted


def test_clean_windows_rarely_alarm(fit):
    rng = np.random.default_rng(3)
    sizes = (300, 1000, 3000)
    results = [window_drift(fit, population(rng, sizes[i % 3])) for i in range(200)]
    alarms = sum(r.drifted for r in results)
    assert alarms <= 6  # 3% of 200 (the design: about 0.5%)
    # and the threshold is not bought with a huge margin: clean means sit around the expected error
    means = np.array([r.error for r in results])
    assert abs(means.mean() - fit.expected_error) < 0.01
    assert all(r.reference_error == fit.expected_error for r in results)


def test_heavy_tailed_clean_windows_rarely_alarm_at_small_sizes():
    """Errors of t(3) and lognormal features are skewed: a CLT threshold alone lets small windows through."""

    def heavy(rng: np.random.Generator, n: int) -> pd.DataFrame:
        frame = population(rng, n)
        frame["x0"] = rng.standard_t(3, n)
        frame["x1"] = rng.lognormal(0.0, 1.0, n)
        return frame

    rng = np.random.default_rng(4)
    fit = fit_pca(heavy(rng, 5000), NUM, CAT)
    assert isinstance(fit, PcaFit)
    alarms = sum(window_drift(fit, heavy(rng, 300)).drifted for _ in range(200))
    assert alarms <= 6


def test_the_null_is_out_of_sample():
    """With few rows for many dimensions, the reference's own rows are reconstructed markedly better than new
    rows; the cross-fitted expected error matches new rows instead."""
    rng = np.random.default_rng(5)
    cov = 0.5 * np.eye(12) + 0.5  # one strong common axis, eleven weak ones

    def frame(n: int) -> pd.DataFrame:
        return pd.DataFrame(rng.multivariate_normal(np.zeros(12), cov, n), columns=[f"f{i}" for i in range(12)])

    ref = frame(600)
    fit = fit_pca(ref, list(ref.columns), [], variance=0.8)
    assert isinstance(fit, PcaFit)
    fresh = fit.row_errors(frame(200_000)).mean()
    in_sample = fit.row_errors(ref).mean()
    margin = fit.row_error_std / np.sqrt(fit.reference_rows)
    assert fresh - in_sample > 3 * margin  # the optimism a naive null would carry (~5 margins)
    assert abs(fresh - fit.expected_error) < 2.5 * margin


def test_components_reach_the_variance_and_no_more():
    rng = np.random.default_rng(6)
    ref = pd.DataFrame(rng.standard_normal((5000, 5)), columns=list("pqrst"))
    fit = fit_pca(ref, list("pqrst"), [])
    assert isinstance(fit, PcaFit)
    assert fit.components == 4  # five equal eigenvalues: 3 explain ~60%, 4 ~80%
    assert fit.explained >= 0.65
    assert fit.dimensions == 5


def test_only_a_higher_error_is_drift(reference, fit):
    typical = pd.DataFrame({c: [reference[c].mean()] * 500 for c in NUM})
    typical["colour"] = "red"
    result = window_drift(fit, typical)
    assert result.error < fit.expected_error
    assert not result.drifted


def test_chunks_merged_in_any_order_equal_one_pass(fit):
    window = population(np.random.default_rng(7), 30_000, rho=0.5)
    whole = ReconstructionSum()
    whole.add(fit, window)
    parts = []
    for chunk in np.array_split(np.arange(len(window)), 3):
        part = ReconstructionSum()
        part.add(fit, window.iloc[chunk])
        parts.append(part)
    merged = ReconstructionSum()
    for part in (parts[2], parts[0], parts[1]):
        merged.merge(part)
    assert merged.rows == whole.rows == 30_000
    assert merged.total == pytest.approx(whole.total, rel=1e-12)
    one, three = judge(fit, whole), judge(fit, merged)
    assert one.drifted == three.drifted is True
    assert one.threshold == three.threshold
    assert three.error == pytest.approx(one.error, rel=1e-12)
    assert judge(fit, ReconstructionSum()) == MultivariateDrift(None, None, fit.expected_error, 0, False)


def test_json_round_trip_scores_identically(fit):
    again = PcaFit.from_json(json.loads(json.dumps(fit.to_json())))
    assert again == fit
    window = population(np.random.default_rng(8), 2000, rho=0.0)
    assert np.array_equal(again.row_errors(window), fit.row_errors(window))
    drift = window_drift(again, window)
    assert json.loads(json.dumps(drift.to_json())) == drift.to_json()
    assert drift.to_json()["drifted"] is True


def test_a_reference_too_small_or_too_narrow_gives_a_reason():
    rng = np.random.default_rng(9)
    small = fit_pca(population(rng, 120), NUM, CAT)
    assert small == f"the reference has 120 rows; at least {MIN_REFERENCE_ROWS} are needed"
    ref = population(rng, 1000)
    assert "at least 2" in fit_pca(ref, ["a"], [])
    ref["flat"] = "same"
    assert "at least 2" in fit_pca(ref, ["a"], ["flat"])  # a categorical of one level adds nothing
    assert "lacks" in fit_pca(ref, ["a", "nope"], [])
    assert isinstance(fit_pca(ref, ["a"], ["colour"]), PcaFit)  # 1 + (4 levels - 1) dimensions


def test_nulls_infinities_and_unseen_categories_are_scored(fit):
    rows = population(np.random.default_rng(10), 6)
    rows["a"] = rows["a"].astype(object)
    rows.loc[0, "a"] = None
    rows.loc[1, "b"] = np.inf
    rows.loc[2, ["a", "b", "x0", "x1", "x2"]] = np.nan
    rows.loc[3, "colour"] = None
    rows.loc[4, "colour"] = "purple"  # unseen: 'other'
    rows.loc[5, "colour"] = "magenta"
    errors = fit.row_errors(rows)
    assert errors.shape == (6,) and np.isfinite(errors).all()
    # a null numerical value counts as the reference's mean; unseen categories are one level, 'other'
    at_mean = rows.iloc[[1]].copy()
    at_mean["b"] = fit.center[1]
    assert fit.row_errors(at_mean)[0] == pytest.approx(errors[1], rel=1e-9)
    swapped = rows.iloc[[4]].copy()
    swapped["colour"] = "magenta"
    assert fit.row_errors(swapped)[0] == pytest.approx(errors[4], rel=1e-12)
    assert fit.row_errors(rows.iloc[:0]).shape == (0,)
    with pytest.raises(ValueError, match="lacks"):
        fit.row_errors(rows.drop(columns="x2"))


def test_unseen_categories_and_nulls_are_validations_to_count_not_a_joint_drift(fit):
    """The reference's colour has four levels and no nulls: a window with a fifth of its colours unseen, or
    null, is a data quality issue (validation's unseen-category and null rules), not a multivariate drift; the
    same rows under the old encoding (a value in a dimension the reference never varied in) would drift."""
    rng = np.random.default_rng(21)
    for broken in ("purple", None):
        window = population(rng, 3000)
        window.loc[window.index[:600], "colour"] = broken
        acc = ReconstructionSum()
        acc.add(fit, window)
        found = judge(fit, acc)
        assert not found.drifted, (broken, found)
    flipped = population(rng, 3000, rho=-0.8)
    flipped.loc[flipped.index[:600], "colour"] = "purple"
    acc = ReconstructionSum()
    acc.add(fit, flipped)
    assert judge(fit, acc).drifted  # a joint drift is still seen beside them
