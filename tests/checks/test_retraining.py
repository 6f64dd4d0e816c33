"""The retrain policy, the training plan and the champion/challenger judgement, without Prefect."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from driftwarden.checks.champion import compare_models
from driftwarden.checks.policy import WindowState, decide_retrain
from driftwarden.checks.training import PlanError, Scored, baseline_scores, plan_training, score_rows
from driftwarden.config.model import ModelConfig
from driftwarden.config.retrain import RetrainConfig
from tests.streams import AGRAWAL_CAT, AGRAWAL_NUM, agrawal, agrawal_config

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1)


def _states(*specs: tuple[bool, bool, int]) -> list[WindowState]:
    """(mature, breached, labelled) per day, oldest first."""
    return [
        WindowState(
            T0 + i * DAY, T0 + (i + 1) * DAY, ("concept_change",) if b else (), m, ("accuracy",) if b else (), n
        )
        for i, (m, b, n) in enumerate(specs)
    ]


def test_policy_needs_consecutive_mature_breaches_and_enough_labels():
    policy = RetrainConfig(consecutive=2, min_labelled_rows=1000)
    now = T0 + 10 * DAY
    one = decide_retrain(_states((True, False, 900), (True, True, 900)), policy, ["accuracy"], now, None)
    assert not one.retrain and "1 of 2" in one.reason
    two = decide_retrain(_states((True, True, 900), (True, True, 900)), policy, ["accuracy"], now, None)
    assert two.retrain and two.cause == "concept_change" and two.since == T0
    # An immature newest window neither breaks nor extends the streak.
    pending = decide_retrain(
        _states((True, True, 900), (True, True, 900), (False, False, 10)), policy, ["accuracy"], now, None
    )
    assert pending.retrain
    # A clean mature window in between breaks it.
    broken = decide_retrain(
        _states((True, True, 900), (True, False, 900), (True, True, 900)), policy, ["accuracy"], now, None
    )
    assert not broken.retrain
    thin = decide_retrain(_states((True, True, 300), (True, True, 300)), policy, ["accuracy"], now, None)
    assert not thin.retrain and "min_labelled_rows 1000" in thin.reason


def test_policy_cooldown_and_windows_already_answered():
    policy = RetrainConfig(consecutive=2, min_labelled_rows=10, cooldown="3d")
    states = _states((True, True, 900), (True, True, 900), (True, True, 900))
    recent = decide_retrain(states, policy, ["accuracy"], T0 + 4 * DAY, T0 + 2 * DAY)
    assert not recent.retrain and "cooldown" in recent.reason
    # After the cooldown, windows that ended before the last retrain no longer count.
    later = decide_retrain(states, policy, ["accuracy"], T0 + 6 * DAY, T0 + 2 * DAY)
    assert not later.retrain
    more = _states(*[(True, True, 900)] * 5)  # days 3 and 4 breach as well, after the last retrain
    again = decide_retrain(more, policy, ["accuracy"], T0 + 6 * DAY, T0 + 2 * DAY)
    assert again.retrain and again.since == T0 + 2 * DAY


def test_policy_counts_only_the_configured_kpis_and_drift_only_when_allowed():
    states = _states((True, True, 900), (True, True, 900))
    assert not decide_retrain(states, RetrainConfig(kpis=["roc_auc"]), ["accuracy", "roc_auc"], T0, None).retrain
    drift = [WindowState(T0, T0 + DAY, ("input_drift",), False, (), 0)]
    assert not decide_retrain(drift, RetrainConfig(), ["accuracy"], T0 + DAY, None).retrain
    allowed = decide_retrain(drift, RetrainConfig(on_drift=True), ["accuracy"], T0 + DAY, None)
    assert allowed.retrain and allowed.cause == "input_drift"
    # a KPI breach with features drifted below the dataset rule is input_drift, but no drift "alone"
    below = [WindowState(T0, T0 + DAY, ("input_drift",), False, ("accuracy",), 0, dataset_drift=False)]
    assert not decide_retrain(below, RetrainConfig(on_drift=True), ["accuracy"], T0 + DAY, None).retrain


def _cfg(**retrain: object) -> ModelConfig:
    raw = agrawal_config(retrain={"holdout": {"windows": 1, "min_rows": 300}, **retrain})
    return ModelConfig.model_validate(raw)


def _labelled(days: int, per_day: int = 500) -> tuple[pd.DataFrame, pd.Series]:
    df = agrawal().iloc[: days * per_day].copy()
    start = pd.Timestamp("2026-03-01", tz="UTC")
    df["timestamp"] = start + pd.to_timedelta(np.arange(len(df)) * 86_400 / per_day, unit="s")
    window_of = df["timestamp"].dt.floor("D")
    return df.reset_index(drop=True), window_of.reset_index(drop=True)


def test_plan_holds_out_the_latest_mature_window_and_trains_only_before_it():
    cfg = _cfg(training={"after_concept_change": "since_change", "min_rows": 100})
    df, window_of = _labelled(6)
    windows = sorted(window_of.unique())
    mature = windows[:5]  # the newest day's labels are not in yet
    failures = df.iloc[[10, 2100, 2300]].copy()  # one already in training, two in the holdout (day 4)
    plan = plan_training(cfg, df, window_of, mature, "concept_change", windows[2], None, failures)
    assert plan.holdout_windows == (windows[4],)
    assert list(plan.train_windows) == windows[2:4]
    assert set(plan.holdout["row"]).isdisjoint(plan.train["row"])
    assert plan.failures_added == 0  # never from the holdout, never twice
    # Nothing from the holdout's window or later leaks in: failure samples logged there (under new ids), rows
    # sharing a holdout id, or reference rows (a promoted champion's reference is an earlier holdout).
    late = df.iloc[[2100, 2600]].assign(row=[90001, 90002], timestamp=[windows[4], windows[5]])
    twin = df.iloc[[1200]].assign(row=df.iloc[2200]["row"])  # day 2, but sharing an id with the holdout
    leaky = pd.concat([df, twin], ignore_index=True)
    leaky_windows = pd.concat([window_of, pd.Series([windows[2]])], ignore_index=True)
    reference = df.iloc[2000:2500].assign(**{"y": 1})
    plan2 = plan_training(
        _cfg(training={"min_rows": 100, "include_reference": True}),
        leaky, leaky_windows, mature, "manual", None, reference, late,
    )  # fmt: skip
    assert plan2.failures_added == 0 and plan2.reference_rows == 0
    assert not set(plan2.train["row"].astype(str)) & set(plan2.holdout["row"].astype(str))
    assert pd.Timestamp(plan.train_from) == windows[2]
    with pytest.raises(PlanError, match="min_rows"):
        plan_training(
            _cfg(training={"min_rows": 5000}), df, window_of, mature, "concept_change", windows[2], None, None
        )
    with pytest.raises(PlanError, match="no mature"):
        plan_training(cfg, df, window_of, [], "concept_change", None, None, None)


def test_plan_after_input_drift_adds_the_reference_and_weights_failures():
    cfg = _cfg(training={"windows": 2, "failure_weight": 3.0, "min_rows": 100})
    df, window_of = _labelled(6)
    windows = sorted(window_of.unique())
    reference = agrawal().iloc[5000:5400]
    failures = agrawal().iloc[6000:6010].assign(timestamp=windows[4])
    plan = plan_training(cfg, df, window_of, windows, "input_drift", None, reference, failures)
    assert plan.reference_rows == 400 and plan.failures_added == 10
    assert list(plan.train_windows) == windows[3:5]
    assert (plan.train["__weight__"] == 3.0).sum() == 10
    # Failure samples are mostly rows of the training windows themselves: those rows weigh more, once.
    inside = df.iloc[[1600, 1700, 2100]].assign(timestamp=[windows[3], windows[3], windows[4]])
    again = plan_training(cfg, df, window_of, windows, "input_drift", None, reference, inside)
    assert again.failures_added == 3 and len(again.train) == len(plan.train) - 10
    weighted = again.train[again.train["__weight__"] == 3.0]
    assert sorted(weighted["row"]) == sorted(inside["row"])


@functools.cache
def _agrawal_models() -> tuple[ModelConfig, pd.DataFrame, np.ndarray, object, object]:
    cfg = _cfg()
    df = agrawal()
    feats = AGRAWAL_NUM + AGRAWAL_CAT
    new = df.iloc[10000:]
    good = HistGradientBoostingClassifier(random_state=0).fit(new[feats][:2000], new["y"][:2000].astype(str))
    shuffled_y = np.random.default_rng(0).permutation(new["y"][:2000].astype(str).to_numpy())
    shuffled = HistGradientBoostingClassifier(random_state=0).fit(new[feats][:2000], shuffled_y)
    holdout = new.iloc[2000:4000]
    return cfg, holdout[feats], holdout["y"].astype(str).to_numpy(), good, shuffled


def test_a_challenger_trained_on_shuffled_labels_is_refused():
    cfg, x, y, good, shuffled = _agrawal_models()
    base = baseline_scores(cfg, y, len(y))
    result = compare_models(cfg, y, score_rows(cfg, shuffled, x), score_rows(cfg, good, x), base)
    assert not result.promote
    assert any("not better than the champion" in r for r in result.reasons), result.reasons
    assert result.scores["champion"]["accuracy"] > 0.95 > result.scores["challenger"]["accuracy"]
    # The good model as challenger against the shuffled champion wins with a tiny p-value.
    win = compare_models(cfg, y, score_rows(cfg, good, x), score_rows(cfg, shuffled, x), base)
    assert win.promote and win.p_value is not None and win.p_value < 1e-10


def test_a_win_smaller_than_noise_on_a_small_holdout_is_refused_by_the_paired_test():
    cfg = _cfg()
    y = np.array(["1", "0"] * 30, dtype=object)
    champ = y.copy()
    champ[:10] = np.where(champ[:10] == "1", "0", "1")  # champion wrong on 10 of 60
    chal = y.copy()
    chal[2:9] = np.where(chal[2:9] == "1", "0", "1")  # challenger wrong on 7 of 60: +5 points, 3 discordant rows
    result = compare_models(cfg, y, Scored(chal, None), Scored(champ, None), baseline_scores(cfg, y, len(y)))
    assert result.difference == pytest.approx(3 / 60)
    assert not result.promote and result.p_value is not None and result.p_value > 0.05
    assert any("paired test is not significant" in r for r in result.reasons)


def test_margin_baseline_and_a_first_model():
    cfg, x, y, good, shuffled = _agrawal_models()
    base = baseline_scores(cfg, y, len(y))
    # No champion yet: a challenger that does not beat the trivial baseline is never promoted.
    first = compare_models(cfg, y, score_rows(cfg, shuffled, x), None, base)
    assert not first.promote and any("trivial baseline" in r for r in first.reasons)
    assert compare_models(cfg, y, score_rows(cfg, good, x), None, base).promote
    # A margin larger than the win refuses it.
    strict = _cfg(promotion={"margin": 0.6})
    result = compare_models(strict, y, score_rows(strict, good, x), score_rows(strict, shuffled, x), base)
    assert not result.promote and any("margin 0.6" in r for r in result.reasons)


def test_auc_uses_delongs_paired_test_and_other_kpis_must_not_regress():
    raw = agrawal_config(
        kpis=[{"metric": "roc_auc", "target": 0.8}, {"metric": "accuracy", "target": 0.8}],
        retrain={"promotion": {"bootstrap": 200, "tolerance": 0.01}},
    )
    cfg = ModelConfig.model_validate(raw)
    _, x, y, good, shuffled = _agrawal_models()
    base = baseline_scores(cfg, y, len(y))
    win = compare_models(cfg, y, score_rows(cfg, good, x), score_rows(cfg, shuffled, x), base)
    assert win.promote and win.test.startswith("DeLong") and win.p_value < 0.01
    # A challenger that ranks perfectly (AUC 1.0) but whose probabilities all lie below 0.5 predicts no
    # positives: its AUC win is significant, yet accuracy regresses beyond the tolerance, so it is refused.
    rng = np.random.default_rng(1)
    yy = np.array(["1", "0"] * 500, dtype=object)
    hit = (yy == "1").astype(float)
    champ_p = np.clip(0.5 * hit + rng.normal(0.25, 0.2, len(yy)), 0, 1)
    champ = Scored(np.where(champ_p >= 0.5, "1", "0").astype(object), champ_p)
    chal_p = 0.2 * hit + rng.uniform(0, 0.1, len(yy))
    chal = Scored(np.full(len(yy), "0", dtype=object), chal_p)
    worse = compare_models(cfg, yy, chal, champ, baseline_scores(cfg, yy, len(yy)))
    assert worse.scores["challenger"]["roc_auc"] == 1.0 > worse.scores["champion"]["roc_auc"]
    assert not worse.promote and any("accuracy regresses beyond the tolerance" in r for r in worse.reasons)


def test_regression_losses_use_a_paired_bootstrap():
    from tests.streams import FRIEDMAN_X

    raw = {
        **agrawal_config(),
        "task": "regression",
        "columns": {
            "timestamp": "timestamp",
            "id": "row",
            "numerical": FRIEDMAN_X,
            "prediction": "y_pred",
            "target": "y",
        },
        "kpis": [{"metric": "mae", "target": 2.0}, {"metric": "rmse", "target": 3.0}],
        "retrain": {"promotion": {"bootstrap": 500}},
    }
    cfg = ModelConfig.model_validate(raw)
    rng = np.random.default_rng(0)
    y = rng.normal(0, 3, 400)
    close = Scored(y + rng.normal(0, 1.0, 400), None)
    closer = Scored(y + rng.normal(0, 0.5, 400), None)
    base = baseline_scores(cfg, y, len(y))
    win = compare_models(cfg, y, closer, close, base)
    assert win.promote and win.test == "paired bootstrap (one-sided)" and win.p_value < 0.01
    assert win.scores["baseline"]["mae"] > win.scores["champion"]["mae"] > win.scores["challenger"]["mae"]
    assert not compare_models(cfg, y, close, closer, base).promote


def test_the_paired_test_is_against_the_margin_and_an_unscorable_champion_is_not_bypassed():
    cfg, x, y, good, shuffled = _agrawal_models()
    base = baseline_scores(cfg, y, len(y))
    chal = score_rows(cfg, good, x)
    # Challenger right on 60 more rows of 2,000 than the champion: a 3-point gain.
    wrong = np.array(["0" if v == "1" else "1" for v in y], dtype=object)
    champ_pred = chal.prediction.copy()
    flip = np.flatnonzero(chal.prediction == y)[:60]
    champ_pred[flip] = wrong[flip]
    champ = Scored(champ_pred, None)
    at_zero = compare_models(_cfg(promotion={"margin": 0.0}), y, chal, champ, base)
    assert at_zero.promote and at_zero.test.startswith("McNemar")
    # The same 3-point gain against a 2.5-point margin is not proven beyond the margin.
    near = _cfg(promotion={"margin": 0.025})
    beyond = compare_models(near, y, chal, champ, base)
    assert not beyond.promote and beyond.p_value > 0.05 and "vs the margin" in beyond.test
    # A champion with no probabilities cannot be judged on AUC: refused, not waved through on the baseline.
    auc = ModelConfig.model_validate(agrawal_config(kpis=[{"metric": "roc_auc", "target": 0.8}]))
    blind = compare_models(auc, y, score_rows(auc, good, x), Scored(champ_pred, None), baseline_scores(auc, y, len(y)))
    assert not blind.promote and any("cannot run" in r for r in blind.reasons)


def test_policy_never_retrains_on_a_broken_feed_nor_across_a_gap():
    policy = RetrainConfig(consecutive=2, min_labelled_rows=100)
    now = T0 + 10 * DAY
    broken = _states((True, True, 900), (True, True, 900))
    broken[1] = WindowState(broken[1].start, broken[1].end, ("data_quality",), True, ("accuracy",), 900)
    refused = decide_retrain(broken, policy, ["accuracy"], now, None)
    assert not refused.retrain and "data_quality" in refused.reason and "fix the feed" in refused.reason
    apart = _states((True, True, 900), (True, True, 900))
    apart[0] = WindowState(T0 - 4 * DAY, T0 - 3 * DAY, ("concept_change",), True, ("accuracy",), 900)
    assert not decide_retrain(apart, policy, ["accuracy"], now, None).retrain  # three days without a run


def test_a_margin_never_makes_promotion_easier_and_a_challenger_must_be_scorable_on_every_kpi():
    from driftwarden.checks.champion import delong_paired

    cfg = _cfg(promotion={"margin": 0.0})
    y = np.array(["1"] * 150 + ["0"] * 150, dtype=object)
    champ = y.copy()
    chal = y.copy()
    champ[:8] = np.where(champ[:8] == "1", "0", "1")  # the challenger alone is right on 8 rows
    chal[8:10] = np.where(chal[8:10] == "1", "0", "1")  # the champion alone on 2
    base = baseline_scores(cfg, y, len(y))
    exact = compare_models(cfg, y, Scored(chal, None), Scored(champ, None), base)
    assert not exact.promote and exact.p_value == pytest.approx(0.0547, abs=1e-4)
    tiny = compare_models(_cfg(promotion={"margin": 0.001}), y, Scored(chal, None), Scored(champ, None), base)
    assert not tiny.promote and tiny.p_value >= exact.p_value
    # A challenger without probabilities cannot be judged on AUC: refused, though it wins on accuracy.
    two = ModelConfig.model_validate(
        agrawal_config(kpis=[{"metric": "accuracy", "target": 0.8}, {"metric": "roc_auc", "target": 0.8}])
    )
    p = np.where(y == "1", 0.9, 0.1)
    good, flat = Scored(y.copy(), None), Scored(champ, p)
    refused = compare_models(two, y, good, flat, baseline_scores(two, y, len(y)))
    assert not refused.promote and any("cannot be scored on roc_auc" in r for r in refused.reasons)
    # DeLong with a handful of one class would reject too often: no p-value, no promotion on it.
    few = np.array([True] * 5 + [False] * 495)
    rng = np.random.default_rng(1)
    test, p_few, details = delong_paired(few, rng.uniform(size=500), rng.uniform(size=500))
    assert p_few is None and details["positives"] == 5


def test_an_undetermined_streak_retrains_as_after_drift_never_on_the_rows_since_the_change():
    """Drift not evaluated on the breached windows: the policy's cause is undetermined, and the plan trains on
    the last windows and the reference (as after input drift), not on the few rows since the streak began."""
    policy = RetrainConfig(consecutive=2, min_labelled_rows=100)
    states = [
        WindowState(T0 + i * DAY, T0 + (i + 1) * DAY, ("undetermined",) if i >= 3 else (), True,
                    ("accuracy",) if i >= 3 else (), 200)
        for i in range(5)
    ]  # fmt: skip
    decision = decide_retrain(states, policy, ["accuracy"], T0 + 10 * DAY, None)
    assert decision.retrain and decision.cause == "undetermined" and "drift not ruled out" in decision.reason
    mixed = [*states[:4], WindowState(T0 + 4 * DAY, T0 + 5 * DAY, ("concept_change",), True, ("accuracy",), 200)]
    assert decide_retrain(mixed, policy, ["accuracy"], T0 + 10 * DAY, None).cause == "undetermined"
    cfg = _cfg(training={"after_concept_change": "since_change", "windows": 3, "min_rows": 100,
                         "include_reference": True})  # fmt: skip
    df, window_of = _labelled(6)
    windows = sorted(window_of.unique())
    reference = df.iloc[:400].assign(timestamp=windows[0] - pd.Timedelta(days=30))
    plan = plan_training(cfg, df, window_of, windows[:5], "undetermined", windows[3], reference, None)
    assert list(plan.train_windows) == windows[1:4]  # the last 3 windows before the holdout, not from windows[3]
    assert plan.reference_rows > 0 and plan.note.startswith("undetermined")
    since = plan_training(cfg, df, window_of, windows[:5], "concept_change", windows[3], reference, None)
    assert list(since.train_windows) == windows[3:4] and since.reference_rows == 0
