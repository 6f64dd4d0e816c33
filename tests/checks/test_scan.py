"""Reading a window in chunks changes nothing: the same validation, drift, KPIs and failure log as one piece;
the binned statistics equal scipy's on the full data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from driftwarden.checks.drift import decide_drift
from driftwarden.checks.failures import select_failures
from driftwarden.checks.kpis import evaluate_kpis
from driftwarden.checks.profile import ProfileBuilder, build_profile
from driftwarden.checks.scan import LABEL_ARRIVED, WindowScan
from driftwarden.checks.sketch import NumericSketch
from driftwarden.config.model import ModelConfig

DAY = pd.Timestamp("2026-03-02", tz="UTC")
NUM = ["income", "age", "score"]


def config(**extra) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "name": "s",
            "task": "binary",
            "sources": {"predictions": {"path": "p.parquet"}, "reference": {"path": "r.parquet"}},
            "columns": {
                "timestamp": "ts",
                "id": "id",
                "model_version": "mv",
                "numerical": NUM,
                "categorical": ["segment"],
                "prediction": "pred",
                "probability": "p",
                "target": "y",
            },
            "kpis": [{"metric": "accuracy", "target": 0.9}, {"metric": "roc_auc", "target": 0.8}],
            "failures": {"max_per_run": 60},
            **extra,
        }
    )


def rows(n: int, seed: int, start: pd.Timestamp = DAY) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    frame = pd.DataFrame(
        {
            "ts": start + pd.to_timedelta(np.sort(rng.uniform(0, 86_399, n)), unit="s"),
            "id": [f"r{seed}-{i}" for i in range(n)],
            "mv": rng.choice(["v1", "v2"], n),
            "income": rng.lognormal(10.8, 0.45, n),
            "age": np.clip(rng.normal(42, 11, n), 18, 85).round(),
            "score": rng.normal(0, 1, n),
            "segment": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "p": p,
            "pred": (p >= 0.5).astype(int),
            "y": (rng.uniform(size=n) < p).astype(int),
        }
    )
    return frame


def broken(n: int, seed: int) -> pd.DataFrame:
    """A window with every kind of fault, spread over it (so that chunks see different shares)."""
    frame = rows(n, seed)
    rng = np.random.default_rng(seed + 1)
    frame.loc[rng.uniform(size=n) < 0.05, "income"] = np.nan
    frame.loc[rng.uniform(size=n) < 0.02, "age"] = 420.0
    frame.loc[rng.uniform(size=n) < 0.03, "segment"] = "zz"
    frame.loc[frame.index[7000], "id"] = frame.loc[frame.index[100], "id"]  # a duplicate far apart
    frame["score"] += 0.4
    return frame


@pytest.fixture(scope="module")
def profile():
    return build_profile(rows(5000, 0), [*NUM, "p"], ["segment", "pred", "y"])


def scan_in(frame: pd.DataFrame, chunk: int, cfg: ModelConfig, profile) -> object:
    scan = WindowScan(cfg, profile, DAY, DAY + pd.Timedelta(days=1), None, [], sample_rows=500)
    for i in range(0, len(frame), chunk):
        scan.add(frame.iloc[i : i + chunk].reset_index(drop=True))
    return scan.finish()


def test_chunks_give_the_verdicts_of_the_whole_window(profile):
    cfg = config()
    window = broken(12_000, 5)
    whole, parts = scan_in(window, len(window), cfg, profile), scan_in(window, 1_000, cfg, profile)
    for a, b in zip(whole.validation.outcomes, parts.validation.outcomes, strict=True):
        assert (a.expectation, a.column, a.success) == (b.expectation, b.column, b.success)
        assert a.bad_share == pytest.approx(b.bad_share)
    assert not whole.validation.success
    assert {f.column for f in whole.validation.failed} == {"income", "age", "segment", "id"}
    assert [(r.reason, r.column, r.positions) for r in whole.validation.failing_rows] == [
        (r.reason, r.column, r.positions) for r in parts.validation.failing_rows
    ]
    dup = next(r for r in parts.validation.failing_rows if r.reason == "duplicate_id")
    assert dup.positions == (100, 7000)  # found across chunks

    def drift(result):
        jobs = [(name, role, sketch) for name, (role, sketch) in result.sketches.items()]
        return decide_drift(jobs, profile, cfg.drift)

    d_whole, d_parts = drift(whole), drift(parts)
    for a, b in zip(d_whole.columns, d_parts.columns, strict=True):
        assert (a.column, a.role, a.method, a.drifted) == (b.column, b.role, b.method, b.drifted)
        assert a.value == pytest.approx(b.value, rel=1e-6)
    assert "score" in d_whole.drifted_features and d_whole.get("p").role == "prediction"

    k_whole = evaluate_kpis(whole.window.labelled, cfg, whole.window.rows)
    k_parts = evaluate_kpis(parts.window.labelled, cfg, parts.window.rows)
    assert [(v.metric, v.segment, v.value, v.level) for v in k_whole.values] == [
        (v.metric, v.segment, v.value, v.level) for v in k_parts.values
    ]
    f_whole = select_failures(whole.validation, whole.window.candidates, cfg)
    f_parts = select_failures(parts.validation, parts.window.candidates, cfg)
    assert sorted((f.reason, f.row_id) for f in f_whole) == sorted((f.reason, f.row_id) for f in f_parts)
    assert {f.reason for f in f_parts} >= {"confident_mistake", "null_value", "out_of_range", "unseen_category"}
    assert len(parts.sample) == 500 and set(parts.sample.columns) == set(cfg.columns.features)


def test_rows_outside_the_window_and_earlier_windows_go_apart(profile):
    cfg = config()
    earlier = rows(3000, 8, DAY - pd.Timedelta(days=1))
    window = rows(4000, 9)
    later = rows(50, 10, DAY + pd.Timedelta(days=1))
    scan = WindowScan(
        cfg, profile, DAY, DAY + pd.Timedelta(days=1), None, [(DAY - pd.Timedelta(days=1), DAY)], sample_rows=100
    )
    for chunk in np.array_split(pd.concat([earlier, window, later], ignore_index=True), 7):
        scan.add(chunk.reset_index(drop=True))
    result = scan.finish()
    assert result.window.rows == 4000 and result.validation.success
    part = result.earlier[DAY - pd.Timedelta(days=1)]
    assert part.rows == 3000 and len(part.labelled) == 3000
    assert set(part.candidates["id"]).issubset(set(earlier["id"]))


@pytest.mark.parametrize(
    "make",
    [
        lambda rng, n: rng.normal(0.1, 1.1, n),
        lambda rng, n: rng.lognormal(10, 1, n),
        lambda rng, n: rng.integers(18, 85, n).astype(float),
        lambda rng, n: rng.choice([0.0, 1.0, 2.0, 3.0], n),
        lambda rng, n: np.concatenate([rng.normal(size=n - 100), np.full(100, 50.0)]),  # outliers beyond the range
    ],
    ids=["shifted", "lognormal", "integers", "four-values", "outliers"],
)
def test_binned_statistics_equal_scipy_on_large_windows(make):
    rng = np.random.default_rng(3)
    ref = pd.Series(make(rng, 60_000), name="x")
    cur = make(rng, 300_000)
    prof = build_profile(pd.DataFrame({"x": ref}), ["x"], []).numeric["x"]
    sketch = NumericSketch.for_profile(prof)
    for part in np.array_split(cur, 9):
        sketch.add(part)
    assert sketch.values() is None  # too many rows to keep: the bins decide
    w1, bound = sketch.wasserstein()
    exact = stats.wasserstein_distance(prof.sample, cur)
    assert abs(w1 - exact) <= max(bound, 1e-9) + 1e-9 * exact
    assert abs(w1 - exact) / max(prof.std, 0.001) < 1e-4
    assert sketch.ks_statistic() == pytest.approx(stats.ks_2samp(prof.sample, cur).statistic, abs=1e-12)


def test_the_profile_does_not_depend_on_the_chunking():
    frame = rows(50_000, 4)
    whole = build_profile(frame, NUM, ["segment"])
    builder = ProfileBuilder(NUM, ["segment"])
    for i in range(0, len(frame), 7_000):
        builder.add(frame.iloc[i : i + 7_000])
    parts = builder.finish()
    for col in NUM:
        a, b = whole.numeric[col], parts.numeric[col]
        assert np.array_equal(a.sample, b.sample) and (a.q001, a.q999, a.count) == (b.q001, b.q999, b.count)
        assert a.mean == pytest.approx(b.mean) and a.std == pytest.approx(b.std)
        assert a.std == pytest.approx(frame[col].std(ddof=0))
    assert whole.categorical == parts.categorical
    assert whole.numeric["income"].q999 == pytest.approx(np.quantile(frame["income"], 0.999))  # exact below 200k


def test_read_ranges_join_adjacent_windows_and_skip_what_lies_between():
    from driftwarden.checks.scan import read_ranges

    day = [pd.Timestamp("2025-02-14", tz="UTC") + pd.Timedelta(days=i) for i in range(8)]
    # 14 and 15 owed, 16 failed (not owed), 17 owed, the window is 18
    earlier = [(day[0], day[1]), (day[1], day[2]), (day[3], day[4])]
    assert read_ranges(day[4], day[5], earlier) == [(day[0], day[2]), (day[3], day[5])]
    assert read_ranges(day[4], day[5]) == [(day[4], day[5])]
    weekly = [(day[0] - pd.Timedelta(days=7), day[0])]  # last week, owed: one range with this week
    assert read_ranges(day[0], day[7], weekly) == [(weekly[0][0], day[7])]


def test_labels_that_arrived_before_their_prediction_are_counted_across_chunks_and_still_used(profile):
    cfg = config(sources={
        "predictions": {"path": "p.parquet"}, "reference": {"path": "r.parquet"},
        "labels": {"path": "l.parquet", "arrived_at": "at"},
    })  # fmt: skip
    window = rows(400, 3)
    labels = pd.DataFrame({"id": window["id"], "y": window["y"], LABEL_ARRIVED: window["ts"] + pd.Timedelta(hours=1)})
    labels.loc[::10, LABEL_ARRIVED] = window["ts"][::10] - pd.Timedelta(seconds=1)  # 40 a second early
    scan = WindowScan(cfg, profile, DAY, DAY + pd.Timedelta(days=1), labels, [])
    for chunk in np.array_split(window, 3):  # counted in each chunk, summed on merging
        scan.add(chunk.reset_index(drop=True))
    part = scan.finish().window
    assert part.early_labels == 40
    assert len(part.labelled) == 400 and LABEL_ARRIVED not in part.labelled  # still used, the time dropped
