"""Bad predictions (expected.py, ``pred.*``): a credit-risk model with a clean night stored, then a broken night
run through ``driftwarden run`` as a user runs it; the outcome, the exit code and what the message names are
checked against the table, and the clean night's stored result must come out of it unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.reliability.conftest import Observed, assert_as_table
from tests.reliability.harness import NIGHT1, NIGHT2, TZ, Model, copy_of, prepare

pytestmark = pytest.mark.slow
END = "2026-10-03"
"""The broken night's window end (the window is night 2, 2026-10-02 in Berlin)."""


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory, prefect_server: Any) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("pred") / "binary"
    return folder, prepare(folder, "binary")


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory: pytest.TempPathFactory, prefect_server: Any) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("pred") / "multiclass"
    return folder, prepare(folder, "multiclass", clean=False)


@pytest.fixture
def model(binary: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Model:
    return copy_of(binary[0], "binary", tmp_path / "m", monkeypatch)


def _message(m: Model, d: dict[str, Any]) -> str:
    """What the user reads: the error of a failed run, else the summary and the stored findings."""
    if d.get("status") == "failed":
        return str(d.get("error"))
    stored = m.latest()
    return f"{d.get('summary')}\n{stored['findings']}"


def observe(m: Model, before: list[Any], *args: str, **named: str) -> tuple[Observed, dict[str, Any]]:
    code, d, out, _ = m.run(*(args or (END,)))
    assert "Traceback" not in out, out
    seen = Observed(
        outcome=d.get("status", "?"),
        message=_message(m, d),
        named=named,
        exit_code=code,
        causes=tuple(d.get("causes") or ()),
        earlier_unchanged=m.earlier() == before,
    )
    return seen, d


def _same_verdict(d: dict[str, Any], clean: dict[str, Any]) -> None:
    keys = ("status", "causes", "rows", "labelled_rows", "drifted_features", "kpis", "failures_logged")
    assert {k: d[k] for k in keys} == {k: clean[k] for k in keys}


@pytest.mark.case("pred.missing_column")
def test_a_declared_feature_missing_from_the_file_fails_naming_both(model, tally):
    before = model.earlier()
    model.write(model.predictions().drop(columns=["income"]))
    seen, _ = observe(model, before, file="2026-10-02.parquet", column="income")
    assert_as_table("pred.missing_column", seen, tally)


@pytest.mark.case("pred.extra_column")
def test_columns_nobody_declared_leave_the_verdict_as_it_was(model, binary, tally):
    before = model.earlier()
    frame = model.predictions().assign(notes="call back", score_v2=0.5, region_code=7)
    model.write(frame)
    seen, d = observe(model, before)
    assert_as_table("pred.extra_column", seen, tally)
    _same_verdict(d, binary[1])


@pytest.mark.case("pred.renamed_column")
def test_a_declared_column_renamed_in_the_feed_fails_naming_the_file_and_the_column(model, tally):
    before = model.earlier()
    model.write(model.predictions().rename(columns={"loan_amount": "loan_amt"}))
    seen, _ = observe(model, before, file="2026-10-02.parquet", column="loan_amount")
    assert_as_table("pred.renamed_column", seen, tally)


@pytest.mark.case("pred.numbers_as_strings")
@pytest.mark.parametrize("which", ["the night's file", "every file"])
def test_a_numeric_feature_stored_as_text_in_parquet_fails_naming_the_file_and_the_column(model, which, tally):
    before = model.earlier()
    if which == "every file":  # no other file to tell a type from: the declared kind of the column must
        model.write(model.predictions(NIGHT1).astype({"age": str}), NIGHT1)
    model.write(model.predictions().astype({"age": str}))
    first = "2026-10-01.parquet" if which == "every file" else "2026-10-02.parquet"  # the glob's first with text
    seen, _ = observe(model, before, file=first, column="age")
    assert_as_table("pred.numbers_as_strings", seen, tally if which == "every file" else None)  # one case, once


@pytest.mark.case("pred.mixed_types")
def test_text_in_some_rows_of_a_numeric_csv_column_is_a_data_quality_breach(model, tally):
    before = model.earlier()
    frame = model.predictions().astype({"age": object})
    frame.loc[frame.index[:15], "age"] = "forty"
    model.write(frame, fmt="csv")
    seen, d = observe(model, before, column="age", value="forty")
    assert_as_table("pred.mixed_types", seen, tally)
    assert d["rows"] == len(frame) and "numbers" in seen.message, seen.message  # rows kept, the rule said


@pytest.mark.case("pred.all_null_column")
def test_a_feature_null_in_every_row_is_a_data_quality_breach(model, tally):
    before = model.earlier()
    model.write(model.predictions().assign(income=np.nan))
    seen, _ = observe(model, before, column="income")
    assert_as_table("pred.all_null_column", seen, tally)


@pytest.mark.case("pred.nan_inf_prediction")
def test_nan_and_inf_probabilities_are_a_data_quality_breach(model, tally):
    before = model.earlier()
    frame = model.predictions()
    frame.loc[frame.index[:10], "default_probability"] = np.nan
    frame.loc[frame.index[10:20], "default_probability"] = np.inf
    model.write(frame)
    model.edit(lambda c: c["kpis"].append({"metric": "roc_auc", "target": 0.5, "min_labelled": 100}))  # reads them
    seen, _ = observe(model, before, column="default_probability")
    assert_as_table("pred.nan_inf_prediction", seen, tally)
    assert "inf" in seen.message.lower(), seen.message  # the breaking values are shown


@pytest.mark.case("pred.proba_out_of_range")
def test_probabilities_outside_zero_one_are_a_data_quality_breach(model, tally):
    before = model.earlier()
    frame = model.predictions()
    frame.loc[frame.index[:10], "default_probability"] = 1.3
    frame.loc[frame.index[10:20], "default_probability"] = -0.2
    model.write(frame)
    seen, _ = observe(model, before, column="default_probability")
    assert_as_table("pred.proba_out_of_range", seen, tally)
    assert "1.3" in seen.message or "-0.2" in seen.message, seen.message


@pytest.mark.case("pred.proba_not_summing_to_one")
def test_class_probabilities_that_do_not_sum_to_one_are_a_data_quality_breach(multiclass, tmp_path, monkeypatch, tally):
    m = copy_of(multiclass[0], "multiclass", tmp_path / "m", monkeypatch)
    before = m.earlier()
    frame = m.predictions()
    frame.loc[frame.index[:40], "p_low"] = (frame["p_low"] + 0.3).clip(upper=1.0).iloc[:40]
    m.write(frame)
    seen, _ = observe(m, before, column="p_low")
    assert_as_table("pred.proba_not_summing_to_one", seen, tally)
    assert "p_high" in seen.message and "p_medium" in seen.message, seen.message


@pytest.mark.case("pred.unknown_label_class")
def test_labels_in_another_encoding_fail_naming_the_file_the_column_and_the_value(model, tally):
    before = model.earlier()
    labels = pd.read_parquet(model.data / "labels.parquet").astype({"defaulted": object})
    tonight = labels["application_id"].str.startswith(f"{NIGHT2:%m%d}")
    labels.loc[tonight, "defaulted"] = labels.loc[tonight, "defaulted"].map({0: "no", 1: "yes"})
    labels.to_csv(model.data / "labels.csv", index=False)
    model.edit(lambda c: c["sources"]["labels"].update(path="labels.csv"))
    seen, _ = observe(model, before, file="labels.csv", column="defaulted", value="yes")
    assert_as_table("pred.unknown_label_class", seen, tally)


@pytest.mark.case("pred.duplicate_ids")
def test_the_same_prediction_id_twice_in_a_window_is_a_data_quality_breach(model, tally):
    before = model.earlier()
    frame = model.predictions()
    frame.loc[frame.index[1:40:2], "application_id"] = frame["application_id"].iloc[0:40:2].to_numpy()
    model.write(frame)
    seen, _ = observe(model, before, column="application_id")
    assert_as_table("pred.duplicate_ids", seen, tally)


@pytest.mark.case("pred.mixed_naive_aware_timestamps")
@pytest.mark.parametrize("reader", ["arrow", "duckdb"])
def test_naive_and_aware_times_in_one_column_each_keep_their_meaning(model, binary, reader, tally):
    """Naive wall times are Berlin times, ones with an offset are what they say: the night's rows near midnight
    (23:xx in Berlin, 21:xx or 22:xx UTC) stay in the night whichever way they are written."""
    before = model.earlier()
    frame = model.predictions()
    local = frame["scored_at"].dt.tz_convert(TZ)
    naive = local.dt.strftime("%Y-%m-%d %H:%M:%S")
    aware = frame["scored_at"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    frame["scored_at"] = np.where(np.arange(len(frame)) % 2 == 0, naive, aware)
    assert (local.dt.hour == 23).sum() > 0 and (local.dt.hour == 0).sum() > 0  # rows at both edges
    model.write(frame, fmt="csv")
    model.edit(lambda c: c["sources"]["predictions"].update(reader=reader))
    seen, d = observe(model, before)
    assert_as_table("pred.mixed_naive_aware_timestamps", seen, tally if reader == "arrow" else None)  # once
    assert d["rows"] == len(frame) == binary[1]["rows"], d
    _same_verdict(d, binary[1])


@pytest.mark.case("pred.timestamps_in_the_future")
def test_rows_stamped_a_year_ahead_leave_the_window_short_of_rows(model, tally):
    before = model.earlier()
    frame = model.predictions()
    ahead = frame.index[: int(len(frame) * 0.9)]
    frame.loc[ahead, "scored_at"] = frame.loc[ahead, "scored_at"] + pd.Timedelta(days=365)
    model.write(frame)
    seen, d = observe(model, before)
    assert_as_table("pred.timestamps_in_the_future", seen, tally)
    assert d["rows"] == len(frame) - len(ahead), d


@pytest.mark.case("pred.window_end_in_the_future")
def test_a_window_end_after_now_is_refused_naming_the_option(model, tally):
    before = model.earlier()
    later = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=2)).strftime("%Y-%m-%d")
    code, d, out, err = model.run(later)
    stored = model.stored()
    nothing_new = len(stored) == len(before) and (stored["window_start"] == pd.Timestamp(NIGHT1).tz_convert(None)).all()
    seen = Observed(
        outcome="refused" if code == 2 and nothing_new else d.get("status", "?"),
        message=out + err,
        named={"option": "--window-end"},
        exit_code=code,
        earlier_unchanged=model.earlier() == before,
    )
    assert "Traceback" not in out + err
    assert_as_table("pred.window_end_in_the_future", seen, tally)


@pytest.mark.case("pred.empty_window")
def test_a_window_without_a_row_is_a_volume_breach(model, tally):
    before = model.earlier()
    model.write(model.predictions().iloc[:0])
    seen, d = observe(model, before)
    assert_as_table("pred.empty_window", seen, tally)
    assert d["rows"] == 0, d


@pytest.mark.case("pred.one_row_window")
def test_a_window_of_one_row_is_a_volume_breach_that_says_so(model, tally):
    before = model.earlier()
    model.write(model.predictions().iloc[:1])
    seen, d = observe(model, before)
    assert_as_table("pred.one_row_window", seen, tally)
    assert d["rows"] == 1 and "1 row, below the floor of 100" in seen.message, seen.message


@pytest.mark.case("pred.ten_thousand_columns")
def test_ten_thousand_undeclared_columns_are_ignored(model, binary, tally):
    before = model.earlier()
    frame = model.predictions()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    filler = pa.array(np.zeros(len(frame)))
    wide = pa.Table.from_arrays(
        [*table.columns, *[filler] * 10_000], names=[*table.column_names, *(f"extra_{i}" for i in range(10_000))]
    )
    pq.write_table(wide, model.data / "predictions" / f"{NIGHT2:%Y-%m-%d}.parquet")
    seen, d = observe(model, before)
    assert_as_table("pred.ten_thousand_columns", seen, tally)
    _same_verdict(d, binary[1])
