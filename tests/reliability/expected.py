"""The expected outcome of every case of the reliability suite, written before its tests.

The tests check what happens against this table, never against what the code happened to do: a case's test
passes its concrete observation to ``conftest.assert_as_table``, which compares it with the row here. Each
case has exactly one test (``test_table.py`` checks that declarations and tests match, both ways).

Outcomes:
- ``failed``: the run is stored as failed; its error names what ``names`` lists (the file, the column, the
  key, ...); the command exits 1; nothing stored before is changed.
- ``breach``: the run is stored as a breach with ``cause`` among its causes (the data problems the monitor
  exists to catch); the message names what ``names`` lists; exit 0; nothing stored before is changed.
- ``warning``: the run is stored with a warning finding naming what ``names`` lists; exit 0.
- ``ok``: the input is handled as a user would expect (``note`` says what that is); exit 0.
- ``refused``: refused before anything runs, naming the key or option; exit 2; nothing is stored.
- ``survives``: a fault or an attack: nothing lost, nothing duplicated, nothing leaked (``note`` says what is
  checked, and the figures the test counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["failed", "breach", "warning", "ok", "refused", "survives"]
EXIT = {"failed": 1, "breach": 0, "warning": 0, "ok": 0, "refused": 2}


@dataclass(frozen=True)
class Expect:
    outcome: Outcome
    note: str
    names: tuple[str, ...] = ()
    """What the message must name: 'file', 'column', 'key', 'value', 'option', 'pattern', 'store', 'setting'."""
    cause: str | None = None
    """For a breach: the cause that must be among the run's causes."""
    kind: Literal["bad_input", "config", "property", "fault", "concurrency", "security"] = field(default="bad_input")


def _bad(outcome: Outcome, note: str, *names: str, cause: str | None = None) -> Expect:
    return Expect(outcome, note, names, cause, "bad_input")


def _cfg(note: str, *names: str) -> Expect:
    return Expect("refused", note, names or ("key",), None, "config")


def _fault(note: str) -> Expect:
    return Expect("survives", note, (), None, "fault")


def _sec(note: str) -> Expect:
    return Expect("survives", note, (), None, "security")


TABLE: dict[str, Expect] = {
    # --- predictions: schema problems fail the run naming the file and column; value problems are breaches
    "pred.missing_column": _bad("failed", "a declared feature is not in the file", "file", "column"),
    "pred.extra_column": _bad("ok", "columns nobody declared are ignored; the verdict is the one without them"),
    "pred.renamed_column": _bad("failed", "a declared column renamed in the feed", "file", "column"),
    "pred.numbers_as_strings": _bad("failed", "a numeric feature stored as text in Parquet", "file", "column"),
    "pred.mixed_types": _bad("breach", "text in some rows of a numeric CSV column", "column", cause="data_quality"),
    "pred.all_null_column": _bad("breach", "a feature null in every row", "column", cause="data_quality"),
    "pred.nan_inf_prediction": _bad("breach", "NaN and inf among the probabilities", "column", cause="data_quality"),
    "pred.proba_out_of_range": _bad("breach", "probabilities outside [0, 1]", "column", cause="data_quality"),
    "pred.proba_not_summing_to_one": _bad(
        "breach", "a multiclass model's class probabilities do not sum to 1", "column", cause="data_quality"
    ),
    "pred.unknown_label_class": _bad(
        "failed", "labels of a class the model does not know (another encoding)", "file", "column", "value"
    ),
    "pred.duplicate_ids": _bad("breach", "the same prediction id twice in one window", "column", cause="data_quality"),
    "pred.mixed_naive_aware_timestamps": _bad(
        "ok", "naive wall times are read in window.timezone, aware ones by their offset: no row leaves its window"
    ),
    "pred.timestamps_in_the_future": _bad(
        "breach", "a clock fault stamps the night's rows a year ahead: the window is short of rows", cause="volume"
    ),
    "pred.window_end_in_the_future": Expect(
        "refused", "run --window-end after now: a window that has not ended", ("option",), None, "bad_input"
    ),
    "pred.empty_window": _bad("breach", "no row in the window: is the feed dead?", cause="volume"),
    "pred.one_row_window": _bad("breach", "one row: too few to judge, said so, no crash", cause="volume"),
    "pred.ten_thousand_columns": _bad("ok", "10,000 undeclared columns beside the declared ones are ignored"),
    # --- files
    "file.truncated_parquet": _bad("failed", "a Parquet file cut in half", "file"),
    "file.schema_differs_in_glob": _bad("failed", "one file of a glob lacks a column", "file", "column"),
    "file.csv_broken_quote": _bad("failed", "an unclosed quote in a CSV", "file"),
    "file.csv_other_encoding": _bad("failed", "a CSV in latin-1, not UTF-8", "file"),
    "file.csv_other_delimiter": _bad("failed", "a CSV separated by semicolons", "file", "column"),
    "file.zero_byte": _bad("failed", "an empty file", "file"),
    "file.glob_matches_nothing": _bad("failed", "a glob that matches no file at all", "pattern"),
    "file.directory_where_file_expected": _bad("failed", "a directory given as the predictions path", "file"),
    "file.no_read_permission": _bad("failed", "a file the run may not read", "file"),
    # --- references
    "ref.constant_column": _bad("ok", "a constant reference column: no warning on stderr, drift still judged"),
    "ref.ten_rows": _bad("ok", "too small to infer a range from: the rule is not enforced, clean data is ok"),
    "ref.without_target": _bad("ok", "drift and validation run; what needs the target says it is missing"),
    "ref.categories_differ_in_case_or_whitespace": _bad(
        "breach", "production's 'Yes ' against the reference's 'yes'", "column", "value", cause="data_quality"
    ),
    # --- configs: refused before anything runs, naming the key
    "cfg.unknown_key": _cfg("a misspelt key"),
    "cfg.wrong_type": _cfg("text where a number belongs"),
    "cfg.missing_source_file": Expect("failed", "validate and run name the missing file", ("file",), None, "config"),
    "cfg.cron_never_fires": _cfg("a schedule on 30 February"),
    "cfg.timezone_does_not_exist": _cfg("window.timezone: Mars/Olympus"),
    "cfg.kpi_does_not_fit_task": _cfg("MAE for a binary classifier"),
    "cfg.mask_names_no_column": _cfg("failures.mask names a column nobody declared"),
    "cfg.huge_max_per_run": _cfg("failures.max_per_run: 10**12"),
    "cfg.yaml_tags": _cfg("a !!python/object tag is never constructed"),
    # --- property-based (hypothesis)
    "prop.config_loader": Expect(
        "survives", "any YAML mapping: a valid config or a ConfigError naming a key, nothing else", (), None, "property"
    ),
    "prop.checks_never_crash": Expect(
        "survives",
        "any frame through validation, drift, KPIs and the verdict: typed results, no exception",
        (),
        None,
        "property",
    ),
    "prop.broken_feed_never_ok": Expect(
        "survives",
        "a frame with a broken feed (null, empty, out of range, unseen) is never called ok",
        (),
        None,
        "property",
    ),
    # --- faults: nothing lost, nothing duplicated
    "fault.store_cut_mid_run": _fault(
        "a TCP proxy in front of PostgreSQL cut between reading and writing: retried with backoff, then a clear "
        "failure naming the store; no half-written run; the alert is spooled and the next run moves it to the outbox"
    ),
    "fault.store_port_closed": _fault("a closed port: a clear failure naming the store, no password, alert spooled"),
    "fault.sqlite_corrupt": _fault("a corrupt SQLite file: a clear failure naming it, the file untouched"),
    "fault.sqlite_full": _fault("a full SQLite store: a clear failure; no half-written run"),
    "fault.sigkill_at_each_stage": _fault(
        "kill -9 while reading, validating, writing the store, writing reports, sending alerts: the re-run gives "
        "one complete current version, the lock is taken over, every alert is delivered at least once with an "
        "idempotency key"
    ),
    "fault.remote_lock_heartbeat": _fault(
        "a lock held on another host stops beating: taken over after its heartbeat lapses, not after the TTL"
    ),
    "fault.prefect_api_down": _fault("the Prefect API goes away mid-run: the verdict is still stored once"),
    "fault.labels_source_down": _fault(
        "labels unreachable, predictions fine: drift and validation stored, the labels' error named, KPIs later"
    ),
    "fault.killed_backfill_resumes": _fault("a backfill killed mid-way resumes where it stopped, nothing twice"),
    "fault.alert_endpoint_hangs": _fault("bounded by its timeout; waits in the outbox; delivered once it answers"),
    "fault.alert_endpoint_500": _fault("waits in the outbox; delivered once it recovers; none lost or doubled"),
    "fault.alert_endpoint_resets": _fault("a reset connection: waits in the outbox; delivered later"),
    "fault.smtp_drops_mid_message": _fault("waits in the outbox; delivered once the server recovers"),
    "fault.crash_during_promotion": _fault(
        "a crash between the version and the alias, and between the alias and the export: one consistent "
        "champion, and `models` says what happened"
    ),
    "fault.reports_read_only": _fault("the run's verdict is stored, the report error recorded"),
    "fault.load_5x5": _fault(
        "5 models x 5 windows backfilled 2 at a time on PostgreSQL: each window once, no lock left"
    ),
    "conc.same_window_sqlite": Expect(
        "survives",
        "2 and 10 runs of one window on SQLite: one proceeds, the others refuse, one version",
        (),
        None,
        "concurrency",
    ),
    "conc.same_window_postgres": Expect(
        "survives",
        "2 and 10 runs of one window on PostgreSQL: one proceeds, the others refuse, one version",
        (),
        None,
        "concurrency",
    ),
    # --- security
    "sec.secrets_never_written": _sec(
        "a planted secret (environment and Prefect Secret block) never appears, plain, URL-encoded or base64, in "
        "logs, the store, failure samples, reports, artifacts, alerts or errors"
    ),
    "sec.sql_injection_in_names": _sec(
        "a table, column or segment name carrying SQL is refused with a clear message (SQLite, PostgreSQL, DuckDB)"
    ),
    "sec.env_expansion_reads_no_file": _sec("${VAR} expands variables only: no file, no command"),
    "sec.paths_stay_in_data_roots": _sec("../../etc/passwd and a symlink out of the allowed data roots: refused"),
    "sec.html_escapes_data": _sec("a category named </script><b>x renders as text in the browser"),
    "sec.model_file_verified": _sec("a crafted model file is never loaded"),
}

NOT_BUILT: frozenset[str] = frozenset()
"""Cases whose test is not written yet: printed with the figures, and checked both ways by ``test_table``
(a case listed here has no test; every other case has exactly one)."""
