"""Broken files and odd references, run through ``driftwarden run`` on the demo's credit-risk model: a file that
cannot be read fails the run naming it (through both file readers where the config lets one choose), a
reference that is odd but usable still gives a verdict, and what was stored before is left as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.reliability._files_setup import BAD_NIGHT, Home, Ran, build_template, without_file_override
from tests.reliability.conftest import Observed, assert_as_table

pytestmark = pytest.mark.slow
READERS = ("arrow", "duckdb")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> Path:
    return build_template(tmp_path_factory.mktemp("credit_risk"))


@pytest.fixture
def home(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    return Home.copy_of(template, tmp_path / "copy", monkeypatch)


def failed_run(home: Home, case: str, tally, **named: str) -> Ran:  # noqa: ANN001
    """Run the bad window; check it against the table as a failed run stored as such."""
    ran = home.run()
    stored = bad_window_runs(home, ran)
    outcome = ran.summary.get("status", "no summary")
    if outcome == "failed" and not (stored and max(stored, key=lambda r: r["run_version"])["status"] == "failed"):
        outcome = "failed but not stored as failed"
    seen = Observed(outcome, ran.message, named, ran.exit_code, (), home.earlier_unchanged())
    assert_as_table(case, seen, tally)
    assert "Traceback" not in ran.message, ran.message
    return ran


def bad_window_runs(home: Home, ran: Ran) -> list[dict]:
    """The stored runs of the window ``ran`` ran (window starts are stored as naive UTC)."""
    start = pd.Timestamp(ran.summary["window_start"]).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S")
    return [r for r in home.stored().values() if r["window_start"].startswith(start)]


def parquet_path(home: Home, stem: str = BAD_NIGHT) -> Path:
    return home.folder / "p" / f"{stem}.parquet"


def as_csv(home: Home, reader: str) -> Path:
    """The predictions as one CSV file a night in ``c/`` (read by ``reader``); the bad night's path."""
    (home.folder / "c").mkdir(exist_ok=True)
    for f in (home.folder / "p").glob("*.parquet"):
        pd.read_parquet(f).to_csv(home.folder / "c" / f"{f.stem}.csv", index=False)
    home.edit(predictions={"path": "c/*.csv", "reader": reader})
    return home.folder / "c" / f"{BAD_NIGHT}.csv"


@pytest.mark.case("file.truncated_parquet")
def test_a_parquet_file_cut_in_half_fails_the_run_naming_it(home, tally):
    path = parquet_path(home)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for reader in READERS:
        home.edit(predictions={"path": "p/*.parquet", "reader": reader})
        failed_run(home, "file.truncated_parquet", tally, file=path.name)


@pytest.mark.case("file.schema_differs_in_glob")
def test_a_file_of_the_glob_without_a_column_fails_the_run_naming_file_and_column(home, tally):
    home.night().drop(columns=["income"]).to_parquet(parquet_path(home), index=False)
    for reader in READERS:
        home.edit(predictions={"path": "p/*.parquet", "reader": reader})
        failed_run(home, "file.schema_differs_in_glob", tally, file=parquet_path(home).name, column="income")


@pytest.mark.case("file.csv_broken_quote")
def test_an_unclosed_quote_in_a_csv_fails_the_run_naming_the_file(home, tally):
    for reader in READERS:
        path = as_csv(home, reader)
        text = path.read_text()
        assert ",A02-00019," in text
        path.write_text(text.replace(",A02-00019,", ',"A02-00019,'))  # a quote opened in row 20, never closed
        failed_run(home, "file.csv_broken_quote", tally, file=path.name)


@pytest.mark.case("file.csv_other_encoding")
def test_a_csv_in_latin_1_fails_the_run_naming_the_file(home, tally):
    for reader in READERS:
        path = as_csv(home, reader)
        night = pd.read_csv(path)
        night.loc[night.index[::7], "region"] = "Zürich"
        night.to_csv(path, index=False, encoding="latin-1")
        failed_run(home, "file.csv_other_encoding", tally, file=path.name)


@pytest.mark.case("file.csv_other_delimiter")
def test_a_csv_separated_by_semicolons_fails_naming_the_file_and_a_column_with_a_hint(home, tally):
    for reader in READERS:
        path = as_csv(home, reader)
        pd.read_csv(path).to_csv(path, index=False, sep=";")
        ran = failed_run(home, "file.csv_other_delimiter", tally, file=path.name, column="scored_at")
        assert "delimiter" in ran.message or "separat" in ran.message, ran.message


@pytest.mark.case("file.zero_byte")
def test_an_empty_file_fails_the_run_naming_it(home, tally):
    """An empty Parquet file through the Arrow reader; an empty CSV file through DuckDB, which would read it as
    no rows of a glob (a dead feed) rather than a broken file."""
    home.edit(predictions={"path": "p/*.parquet", "reader": "arrow"})
    good = parquet_path(home).read_bytes()
    parquet_path(home).write_bytes(b"")
    failed_run(home, "file.zero_byte", tally, file=parquet_path(home).name)
    parquet_path(home).write_bytes(good)
    path = as_csv(home, "duckdb")
    path.write_bytes(b"")
    failed_run(home, "file.zero_byte", tally, file=path.name)


@pytest.mark.case("file.glob_matches_nothing")
def test_a_glob_that_matches_nothing_fails_the_run_naming_it(home, tally):
    for reader in READERS:
        home.edit(predictions={"path": "p/*.parq", "reader": reader})
        failed_run(home, "file.glob_matches_nothing", tally, pattern="p/*.parq")


@pytest.mark.case("file.directory_where_file_expected")
def test_a_directory_as_the_predictions_path_fails_the_run_naming_it(home, tally):
    for reader in READERS:
        home.edit(predictions={"path": "p", "reader": reader})
        failed_run(home, "file.directory_where_file_expected", tally, file=str(home.folder / "p"))


@pytest.mark.case("file.no_read_permission")
def test_a_file_the_run_may_not_read_fails_the_run_naming_it(home, tally):
    """Tests run as root, who reads any file: the run is made without root's power to override file
    permissions (as a scheduler's own account runs it), so the operating system itself refuses the read."""
    path = parquet_path(home)
    path.chmod(0)
    for reader in READERS:
        home.edit(predictions={"path": "p/*.parquet", "reader": reader})
        with without_file_override():
            with pytest.raises(PermissionError):
                path.open("rb")
            failed_run(home, "file.no_read_permission", tally, file=path.name)


def ok_run(home: Home, case: str, tally, **named: str) -> Ran:  # noqa: ANN001
    ran = home.run()
    outcome = ran.summary.get("status", "no summary")
    seen = Observed(outcome, ran.message, named, ran.exit_code, (), home.earlier_unchanged())
    assert_as_table(case, seen, tally)
    return ran


def metrics_of(home: Home, ran: Ran, kind: str, column: str) -> list[tuple]:
    """The metrics of ``kind`` stored for ``column`` by the latest run of the bad window (rows of the metrics
    table: id, run_id, kind, name, column, segment, value, ..., details)."""
    latest = max(bad_window_runs(home, ran), key=lambda r: r["run_version"])
    return [m for m in latest["metrics"] if m[2] == kind and m[4] == column and m[5] == "all"]


@pytest.mark.case("ref.constant_column")
def test_a_constant_reference_column_gives_no_warning_and_its_drift_is_judged(home, tally):
    ref = pd.read_parquet(home.folder / "reference.parquet").assign(open_accounts=3.0)
    ref.to_parquet(home.folder / "reference.parquet", index=False)
    home.night().assign(open_accounts=3.0).to_parquet(parquet_path(home), index=False)
    ran = ok_run(home, "ref.constant_column", tally)
    assert not [w for w in ran.warned if w.startswith("RuntimeWarning")], ran.warned
    assert "RuntimeWarning" not in ran.stderr, ran.stderr
    drift = metrics_of(home, ran, "drift", "open_accounts")
    assert drift and all(m[6] is not None and np.isfinite(m[6]) for m in drift), f"not judged: {drift}"


@pytest.mark.case("ref.ten_rows")
def test_a_reference_of_ten_rows_enforces_no_inferred_range_and_clean_data_is_ok(home, tally):
    ref = pd.read_parquet(home.folder / "reference.parquet")
    ref.iloc[:10].to_parquet(home.folder / "reference.parquet", index=False)
    ran = ok_run(home, "ref.ten_rows", tally)
    # ~2/11 of clean rows lie beyond the min or max of 10: a range inferred from them would have breached
    rules = [m[-1] for m in metrics_of(home, ran, "validation", "income")]
    assert any("income range not enforced: reference has 10 rows" in r for r in rules), rules


@pytest.mark.case("ref.without_target")
def test_a_reference_without_the_target_still_judges_drift_and_validation(home, tally):
    ref = pd.read_parquet(home.folder / "reference.parquet").drop(columns=["defaulted"])
    ref.to_parquet(home.folder / "reference.parquet", index=False)
    ran = ok_run(home, "ref.without_target", tally)
    assert metrics_of(home, ran, "drift", "income") and metrics_of(home, ran, "validation", "income")
    said = str(ran.summary.get("estimates"))
    assert "defaulted" in said and "reference" in said, ran.summary.get("estimates")


@pytest.mark.case("ref.categories_differ_in_case_or_whitespace")
def test_categories_differing_from_the_reference_in_case_or_whitespace_are_a_data_quality_breach(home, tally):
    night = home.night()
    rows = np.random.default_rng(1).uniform(size=len(night)) < 0.3
    night.loc[rows & (night["employment_type"] == "salaried"), "employment_type"] = "Salaried "
    night.to_parquet(parquet_path(home), index=False)
    ran = home.run()
    seen = Observed(
        ran.summary.get("status", "no summary"),
        ran.message,
        {"column": "employment_type", "value": "'Salaried '"},
        ran.exit_code,
        tuple(ran.summary.get("causes", ())),
        home.earlier_unchanged(),
    )
    assert_as_table("ref.categories_differ_in_case_or_whitespace", seen, tally)
    assert "whitespace" in ran.message and "'salaried'" in ran.message, ran.message
