"""Reading windows from files: projection, time zones across DST, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from driftwarden.config.model import ModelConfig
from driftwarden.flows.errors import SourceError
from driftwarden.flows.sources import read_predictions, read_reference


def config(folder, tz="Europe/Berlin", predictions="p.csv", reader="arrow") -> ModelConfig:
    return ModelConfig.model_validate({
        "name": "s", "task": "binary", "base_dir": folder,
        "sources": {
            "predictions": {"path": predictions, "reader": reader}, "reference": {"path": "r.csv", "reader": reader}
        },
        "columns": {"timestamp": "ts", "id": "id", "numerical": ["x"], "prediction": "pred", "target": "y"},
        "window": {"length": "1d", "timezone": tz},
    })  # fmt: skip


def day(tz="Europe/Berlin"):
    return pd.Timestamp("2026-10-25", tz=tz), pd.Timestamp("2026-10-26", tz=tz)


def test_offsets_that_change_across_dst_are_read(tmp_path):
    times = pd.date_range("2026-10-24 22:00", "2026-10-26 02:00", freq="h", tz="Europe/Berlin")
    pd.DataFrame({"ts": [t.isoformat() for t in times], "id": range(len(times)), "x": 1.0, "pred": 1, "y": 1}).to_csv(
        tmp_path / "p.csv", index=False
    )
    frame = read_predictions(config(tmp_path), *day())
    assert len(frame) == 25  # the 25-hour day, every hour once
    assert list(frame.columns) == ["ts", "id", "x", "pred", "y"]


def test_naive_local_times_in_the_repeated_hour_are_told_apart_by_order(tmp_path):
    times = pd.date_range("2026-10-25 00:00", periods=25, freq="h", tz="Europe/Berlin")
    naive = [t.tz_localize(None).isoformat() for t in times]  # 02:00 appears twice
    pd.DataFrame({"ts": naive, "id": range(25), "x": 1.0, "pred": 1, "y": 1}).to_csv(tmp_path / "p.csv", index=False)
    assert len(read_predictions(config(tmp_path), *day())) == 25
    lone = pd.DataFrame({"ts": ["2026-10-25T02:30:00"], "id": [1], "x": 1.0, "pred": 1, "y": 1})
    lone.to_csv(tmp_path / "p.csv", index=False)  # cannot be told apart: read, not dropped, not failed
    [ts] = read_predictions(config(tmp_path), *day())["ts"]
    assert ts.isoformat() == "2026-10-25T02:30:00+02:00"


def test_missing_file_and_column_are_named(tmp_path):
    with pytest.raises(SourceError, match="sources.predictions: no file matches .*p.csv"):
        read_predictions(config(tmp_path), *day())
    pd.DataFrame({"ts": ["2026-10-25"], "id": [1], "pred": [1], "y": [1]}).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(SourceError, match=r"p.csv has no column\(s\) \['x'\]"):
        read_predictions(config(tmp_path), *day())


@pytest.mark.parametrize("reader", ["arrow", "duckdb"])
def test_a_directory_given_as_the_reference_path_is_named_as_a_directory(tmp_path, reader):
    (tmp_path / "r.csv").mkdir()
    with pytest.raises(SourceError, match=r"sources.reference.path: .*r.csv is a directory; a file is expected"):
        read_reference(config(tmp_path, reader=reader))


@pytest.mark.parametrize("reader", ["arrow", "duckdb"])  # DuckDB's own glob skips folders quietly too
def test_a_directory_a_glob_matches_is_named_not_skipped(tmp_path, reader):
    rows = pd.DataFrame({"ts": ["2026-10-25T10:00:00"], "id": [1], "x": 1.0, "pred": 1, "y": 1})
    (tmp_path / "p").mkdir()
    rows.to_parquet(tmp_path / "p" / "a.parquet")
    (tmp_path / "p" / "b.parquet").mkdir()  # a Spark-style folder of parts: its rows would be missed quietly
    rows.to_parquet(tmp_path / "p" / "b.parquet" / "part-0.parquet")
    read = r"sources.predictions.path: .* matches 1 directory, which would not be read: .*b.parquet"
    with pytest.raises(SourceError, match=read):
        read_predictions(config(tmp_path, predictions="p/*.parquet", reader=reader), *day())
