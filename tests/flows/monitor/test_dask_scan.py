"""A window scanned by the workers of a Dask cluster gives the verdicts of the one pass in this process, field
by field: each worker reads its pieces of the window from the source itself and the parts merge in order. The
merges underneath are exact: sketches of a window's splits merged are the sketch of the whole."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftwarden.checks.drift import decide_drift
from driftwarden.checks.failures import select_failures
from driftwarden.checks.kpis import evaluate_kpis
from driftwarden.checks.profile import build_profile
from driftwarden.checks.scan import ScanResult, WindowScan
from driftwarden.checks.sketch import RAW_LIMIT, CategoricalSketch, NumericSketch
from driftwarden.config.model import ModelConfig
from driftwarden.flows import sources

DAY = pd.Timestamp("2026-03-02", tz="UTC")
EARLIER = (DAY - pd.Timedelta(days=1), DAY)
NUM = ["income", "age", "score"]


def config(predictions: dict, **extra) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "name": "dask",
            "task": "binary",
            "sources": {
                "predictions": predictions,
                "labels": {"path": "labels.parquet", "arrived_at": "at"},
                "reference": {"path": "reference.parquet"},
            },
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
            "failures": {"max_per_run": 40},
            **extra,
        }
    )


def rows(n: int, seed: int, start: pd.Timestamp) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    return pd.DataFrame(
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


def history(n_earlier: int = 5_000, n_window: int = 21_000) -> pd.DataFrame:
    """The day before (label catch-up), a broken window and a few rows after, in time order."""
    window = rows(n_window, 5, DAY)
    rng = np.random.default_rng(6)
    window.loc[rng.uniform(size=n_window) < 0.05, "income"] = np.nan
    window.loc[rng.uniform(size=n_window) < 0.02, "age"] = 420.0
    window.loc[rng.uniform(size=n_window) < 0.03, "segment"] = "zz"
    window.loc[window.index[n_window - 50], "id"] = window.loc[window.index[30], "id"]  # a duplicate far apart
    window["score"] += 0.4
    later = rows(300, 7, DAY + pd.Timedelta(days=1))
    return pd.concat([rows(n_earlier, 4, EARLIER[0]), window, later], ignore_index=True)


def split(frame: pd.DataFrame, parts: int) -> list[pd.DataFrame]:
    cuts = np.linspace(0, len(frame), parts + 1).astype(int)
    return [frame.iloc[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


def write_parquet(frame: pd.DataFrame, folder, files: int, row_group: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(split(frame, files)):
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), folder / f"p{i}.parquet", row_group)
    return str(folder / "*.parquet")


def labels_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The labels known so far: most rows of the day before and about half of the window's."""
    known = frame[np.random.default_rng(8).uniform(size=len(frame)) < 0.7]
    return known[["id", "y"]].drop_duplicates("id").reset_index(drop=True)


@pytest.fixture(scope="module")
def profile():
    return build_profile(rows(6000, 0, DAY), [*NUM, "p"], ["segment", "pred", "y"])


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes (their own imports, settings and environment: what travels is pickled)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, env={"DW_TEST_TIMEOUT": "7.25"}
    ) as c:
        yield c.scheduler_address


def one_process(cfg: ModelConfig, profile, labels, chunk_rows: int) -> ScanResult:
    """What ``tasks.scan_window`` does: one pass over ``scan_predictions`` in this process."""
    scan = WindowScan(cfg, profile, DAY, DAY + pd.Timedelta(days=1), labels, [EARLIER], sample_rows=700)
    for chunk in sources.scan_predictions(cfg, EARLIER[0], DAY + pd.Timedelta(days=1), chunk_rows):
        scan.add(chunk)
    return scan.finish()


def on_dask(cfg: ModelConfig, profile, labels, address: str, chunk_rows: int) -> ScanResult:
    from driftwarden.flows.monitor.dask_scan import scan_on_dask

    end = DAY + pd.Timedelta(days=1)
    return scan_on_dask(cfg, profile, DAY, end, labels, [EARLIER], 700, address, chunk_rows=chunk_rows)


def assert_same(a: ScanResult, b: ScanResult, cfg: ModelConfig, profile) -> None:
    assert a.validation is not None and b.validation is not None
    assert a.validation.outcomes == b.validation.outcomes
    assert [(r.reason, r.column, r.positions) for r in a.validation.failing_rows] == [
        (r.reason, r.column, r.positions) for r in b.validation.failing_rows
    ]
    for ra, rb in zip(a.validation.failing_rows, b.validation.failing_rows, strict=True):
        pd.testing.assert_frame_equal(ra.rows.reset_index(drop=True), rb.rows.reset_index(drop=True))

    def drift(result: ScanResult):
        return decide_drift([(n, role, s) for n, (role, s) in result.sketches.items()], profile, cfg.drift)

    assert drift(a) == drift(b)
    for name, (_, sa) in a.sketches.items():
        sb = b.sketches[name][1]
        if isinstance(sa, NumericSketch):
            assert isinstance(sb, NumericSketch)
            assert np.array_equal(sa.counts, sb.counts) and np.array_equal(sa.ties, sb.ties)
            assert np.array_equal(sa.offsets, sb.offsets)  # bit for bit
            assert (sa.rows, sa.nulls, sa.minimum, sa.maximum) == (sb.rows, sb.nulls, sb.minimum, sb.maximum)
        else:
            assert sa == sb
    assert evaluate_kpis(a.window.labelled, cfg, a.window.rows) == evaluate_kpis(b.window.labelled, cfg, b.window.rows)
    assert select_failures(a.validation, a.window.candidates, cfg) == select_failures(
        b.validation, b.window.candidates, cfg
    )
    for pa_, pb_ in [(a.window, b.window), *((a.earlier[k], b.earlier[k]) for k in a.earlier)]:
        assert pa_.rows == pb_.rows
        pd.testing.assert_frame_equal(pa_.labelled, pb_.labelled)
        pd.testing.assert_frame_equal(pa_.candidates, pb_.candidates)
    assert a.earlier.keys() == b.earlier.keys()
    pd.testing.assert_frame_equal(a.sample, b.sample)


def test_a_window_scanned_on_dask_workers_gives_the_verdicts_of_one_process(tmp_path, profile, cluster):
    frame = history()
    cfg = config({"path": write_parquet(frame, tmp_path / "pred", files=3, row_group=2500)})
    labels = labels_of(frame)
    here = one_process(cfg, profile, labels, chunk_rows=7000)  # chunks across files, pieces of 5000 rows there
    specs = sources.plan_chunks(cfg, EARLIER[0], DAY + pd.Timedelta(days=1), 5000)
    assert len(specs) >= 6 and len({spec.part.groups[0][0] for spec in specs}) == 3
    there = on_dask(cfg, profile, labels, cluster, chunk_rows=5000)
    assert_same(here, there, cfg, profile)

    assert here.window.rows == 21_000 and here.earlier[EARLIER[0]].rows == 5_000
    assert {f.column for f in there.validation.failed} == {"income", "age", "segment", "id"}
    dup = next(r for r in there.validation.failing_rows if r.reason == "duplicate_id")
    assert dup.positions == (30, 20_950)  # found across pieces read by different workers
    drift = decide_drift([(n, r, s) for n, (r, s) in there.sketches.items()], profile, cfg.drift)
    assert "score" in drift.drifted_features and drift.get("p").role == "prediction"
    assert len(there.sample) == 700 and there.window.labelled["y"].notna().all()
    reasons = {f.reason for f in select_failures(there.validation, there.window.candidates, cfg)}
    assert reasons >= {"confident_mistake", "null_value", "out_of_range", "unseen_category", "duplicate_id"}


def test_a_table_is_read_by_time_ranges_with_the_workers_own_secrets(tmp_path, profile, cluster, monkeypatch):
    """A SQL source is cut into time ranges; the URL's ${VAR} travels as written and each worker fills it from
    its own environment (the cluster's workers have DW_TEST_TIMEOUT; nothing sent holds its value)."""
    import sqlalchemy as sa

    from driftwarden.flows.monitor.dask_scan import _Job

    frame = history(2_000, 9_000)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with sa.create_engine(url).begin() as conn:
        frame.assign(ts=frame["ts"].dt.tz_localize(None)).sample(frac=1, random_state=1).to_sql("preds", conn)
    monkeypatch.setenv("DW_TEST_TIMEOUT", "7.25")  # here too: the ranges are planned here
    cfg = config({"url": url + "?timeout=${DW_TEST_TIMEOUT}", "table": "preds"})
    labels = labels_of(frame)
    specs = sources.plan_chunks(cfg, EARLIER[0], DAY + pd.Timedelta(days=1), 3000)
    assert len(specs) == 4 and all(isinstance(s.part, tuple) for s in specs)
    sent = pickle.dumps((specs, _Job(cfg, profile, DAY, DAY, labels, (EARLIER,), 700)))
    assert b"${DW_TEST_TIMEOUT}" in sent and b"7.25" not in sent
    assert_same(one_process(cfg, profile, labels, 5000), on_dask(cfg, profile, labels, cluster, 3000), cfg, profile)


@pytest.mark.parametrize("kind", ["csv", "duckdb", "parquet"])
def test_pieces_read_in_turn_are_the_rows_of_one_read(tmp_path, kind):
    frame = history(1_500, 6_000)
    if kind == "csv":
        for i, part in enumerate(split(frame, 3)):
            part.to_csv(tmp_path / f"p{i}.csv", index=False)
        src = {"path": str(tmp_path / "*.csv")}
    else:
        src = {"path": write_parquet(frame, tmp_path, files=4, row_group=1000)}
        if kind == "duckdb":
            src["reader"] = "duckdb"
    cfg = config(src)
    start, end = EARLIER[0] + pd.Timedelta(hours=12), DAY + pd.Timedelta(days=1)
    whole = pd.concat(sources.scan_predictions(cfg, start, end, 1000), ignore_index=True)
    specs = sources.plan_chunks(cfg, start, end, 2000)
    assert len(specs) == {"csv": 3, "duckdb": 4, "parquet": 4}[kind]  # parquet: row groups before 12:00 skipped
    pieces = pd.concat([c for s in specs for c in sources.read_chunk(cfg, s)], ignore_index=True)
    pd.testing.assert_frame_equal(whole, pieces)
    assert len(whole) == ((frame["ts"] >= start) & (frame["ts"] < end)).sum() and whole["ts"].is_monotonic_increasing


# --- merges: of splits, equal to the whole -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_numeric_sketches_of_splits_merge_into_the_sketch_of_the_whole(seed):
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": [rng.normal(size=8000), rng.lognormal(3, 1, 8000), rng.integers(0, 4, 8000)][seed % 3]})
    prof = build_profile(ref, ["x"], []).numeric["x"]
    n = [300, 30_000][seed % 2]  # raw values kept, or bins alone
    x = ref["x"].to_numpy()[rng.integers(0, 8000, n)] * rng.choice([1.0, 1.3]) + rng.choice([0.0, 0.5])
    x[rng.uniform(size=n) < 0.05] = np.nan
    x[rng.uniform(size=n) < 0.01] = np.inf
    whole = NumericSketch.for_profile(prof)
    whole.add(x)
    cuts = np.sort(rng.choice(np.arange(1, n), size=rng.integers(1, 12), replace=False))
    parts = []
    for piece in np.split(x, cuts):
        part = whole.empty()
        part.add(piece)
        parts.append(part.detached())
    merged = whole.empty()
    for i in rng.permutation(len(parts)):  # in any order
        merged.merge(parts[i])
    assert np.array_equal(merged.counts, whole.counts) and np.array_equal(merged.ties, whole.ties)
    assert np.array_equal(merged.offsets, whole.offsets)
    assert (merged.rows, merged.nulls, merged.infinite) == (whole.rows, whole.nulls, whole.infinite)
    assert (merged.minimum, merged.maximum) == (whole.minimum, whole.maximum)
    assert merged.extra == whole.extra
    assert (merged.values() is None) == (whole.values() is None) == (n > RAW_LIMIT)
    if n <= RAW_LIMIT:
        assert np.array_equal(merged.values(), whole.values())
    assert merged.wasserstein() == whole.wasserstein() and merged.ks_statistic() == whole.ks_statistic()


def test_categorical_sketches_merge_into_the_sketch_of_the_whole():
    rng = np.random.default_rng(1)
    values = pd.Series(rng.choice(["a", "b", "c", None, 3, 3.0], 5000))
    whole = CategoricalSketch()
    whole.add(values)
    merged = CategoricalSketch()
    for piece in split(values.to_frame("v"), 7):
        part = CategoricalSketch()
        part.add(piece["v"])
        merged.merge(part)
    assert (merged.rows, merged.nulls, merged.counts) == (whole.rows, whole.nulls, whole.counts)
    with pytest.raises(ValueError):
        NumericSketch.for_profile(build_profile(pd.DataFrame({"x": [1.0, 2.0]}), ["x"], []).numeric["x"]).merge(whole)


def test_a_window_merged_from_parts_scanned_apart_is_the_window_scanned_whole(profile):
    """In one process, without a cluster: chunks cut anywhere, scanned apart and merged, give the one pass."""
    frame = history(2_000, 12_000)
    cfg = config({"path": "unused.parquet"})
    labels = labels_of(frame)
    end = DAY + pd.Timedelta(days=1)
    whole = WindowScan(cfg, profile, DAY, end, labels, [EARLIER], sample_rows=300)
    whole.add(frame)
    apart = WindowScan(cfg, profile, DAY, end, labels, [EARLIER], sample_rows=300)
    worker = WindowScan(cfg, profile, DAY, end, labels, [EARLIER], sample_rows=300)
    bounds = [0, 1, 1_999, 2_001, 5_000, 5_001, 9_876, len(frame)]
    pieces = [frame.iloc[a:b].reset_index(drop=True) for a, b in zip(bounds, bounds[1:], strict=False)]
    for group in (pieces[:3], pieces[3:4], pieces[4:]):  # a worker's piece of several chunks
        part = worker.new_part()
        for chunk in group:
            part.merge(worker.scan(chunk))
        apart.merge(pickle.loads(pickle.dumps(part.detached())))
    assert_same(whole.finish(), apart.finish(), cfg, profile)
