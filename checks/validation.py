"""Validate a window with Great Expectations 1.x: suites built from the config and the reference profile.

A window is validated chunk by chunk (``BatchValidator``): GX evaluates every expectation on a frame of
just the checked columns of each chunk (one validation a chunk: each costs a fixed ~30 ms of GX's planning,
whatever its size; the unchecked columns stay out, GX's row-level expectations being far slower on a wide
frame), and the window's outcome holds the merged counts to each rule's share: ranges and category sets
use ``mostly`` so that one odd row does not fail a clean night, null shares a tolerance that depends on
the window's size. The ids are checked once, over the whole window. Failing rows are collected along the
way (re-applying the rule in pandas, at most MAX_ROWS_PER_FAILURE a rule) and kept only for the rules
that failed. A chunk's counts (``ValidationPart``) are plain data: parts validated apart, by the workers of a
cluster, merge in reading order into the counts of the whole window.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from driftwarden.checks.profile import ReferenceProfile, as_category_text
from driftwarden.config.model import ModelConfig

log = logging.getLogger(__name__)

RowReason = Literal["null_value", "out_of_range", "unseen_category", "duplicate_id"]
MAX_ROWS_PER_FAILURE = 1000
EXAMPLES = 3
"""Breaking values shown with a broken rule."""
NON_NUMERIC = "driftwarden.non_numeric"
"""``DataFrame.attrs`` key a reader leaves on a chunk whose numeric columns held text: column -> an object array,
one entry a row, the text the row held (None where it held a number or nothing); the text is read as missing,
and the rule that the column holds numbers counts it."""
_OF_TYPE = "expect_column_values_to_be_of_type"
SUM_TOLERANCE = 0.01
"""How far a multiclass row's class probabilities may sum from 1 (rounding)."""


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    """GX expectation type, e.g. ``expect_column_values_to_be_between``."""
    column: str | None
    success: bool
    bad_share: float | None
    """Share of rows breaking the rule (null, outside the range or the categories, duplicated)."""
    allowed_share: float
    """Share of rows allowed to break it."""
    rule: str
    """The rule in plain words, e.g. 'income within [0, 2.5e+05]'."""
    bad: int = 0
    considered: int = 0
    """Rows breaking it, of the rows it considered."""
    state: str | None = None
    """Share rules (``checks.shares``): clear, new, standing, rise or accepted once decided against the window
    before; None for a rule that allows no bad row, or before that decision."""
    since: str = ""
    """The window start when the issue was first seen (share rules with an issue)."""
    level_bad: int = 0
    level_rows: int = 0
    """The standing level's pooled counts."""
    examples: tuple[str, ...] = ()
    """A few of the values that broke it, as text (none for a masked or excluded column, or for nulls)."""
    hint: str = ""
    """Unseen categories: which differ from a known one only in case or whitespace."""

    @property
    def detail(self) -> str:
        seen = "" if self.bad_share is None else f"{self.bad_share:.2%} of rows break it, "
        shown = f" (e.g. {', '.join(self.examples)})" if self.examples and not self.success else ""
        return f"{self.rule}: {seen}at most {self.allowed_share:.2%} allowed{shown}{self.hint}"

    @property
    def passed(self) -> bool:
        """What the verdict and the alerts hold it to: a share rule by its state (a share over the tolerance
        within its sampling noise passes; a standing issue does not), any other rule by its success."""
        if self.state is None:
            return self.success
        return self.state in ("clear", "accepted")

    @property
    def level(self) -> float | None:
        return self.level_bad / self.level_rows if self.level_rows else None


@dataclass(frozen=True)
class RowFailure:
    reason: RowReason
    column: str
    positions: tuple[int, ...]
    """Row numbers in the window, in reading order (at most MAX_ROWS_PER_FAILURE)."""
    rows: pd.DataFrame = field(repr=False, compare=False)
    """Those rows, with every column that was read (ids only come with the columns the id check saw)."""


@dataclass(frozen=True)
class ValidationResult:
    success: bool
    outcomes: tuple[ExpectationOutcome, ...]
    failing_rows: tuple[RowFailure, ...]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        """The rules broken in this window, by their counts alone (their failing rows are kept)."""
        return [o for o in self.outcomes if not o.success]

    @property
    def breached(self) -> list[ExpectationOutcome]:
        """What breaches the window: a rule that allows no bad row broken, a share issue new, risen or
        standing."""
        return [o for o in self.outcomes if not o.passed]

    @property
    def accepted(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.state == "accepted"]


@dataclass(frozen=True)
class _Rule:
    expectation: Any
    """The GX expectation evaluated, or None for a null rule counted by its column's value expectation (GX
    counts a column's nulls as ``missing_count`` in every map expectation's result: a not-null expectation
    beside it would cost GX's planning again for the same count)."""
    reason: RowReason
    column: str
    words: str
    allowed_share: float
    """Share of rows allowed to break it (for nulls, recomputed for the window's size at the end)."""
    bounds: tuple[float, float] | None = None
    categories: frozenset[str] | None = None
    ref_null: tuple[float, int] | None = None
    """Null rules: the reference's null share and rows."""
    kind: str = "expect_column_values_to_not_be_null"
    """The GX expectation type the rule stands for (its own expectation's, when it has one)."""


def inferred_range(profile: ReferenceProfile, column: str, k: float) -> tuple[float, float]:
    """[q0.001 - k*IQR, q0.999 + k*IQR] of the reference: a clean batch stays inside it."""
    p = profile.numeric[column]
    iqr = p.q75 - p.q25
    low = p.q001 - k * iqr
    if p.sample.size and p.sample[0] >= 0:  # never negative in the reference: amounts, counts, ages
        low = max(low, 0.0)
    return low, p.q999 + k * iqr


def null_allowance(ref_null: float, n: int, n_ref: int, tolerance: float) -> float:
    """Null share allowed in a batch of ``n`` rows: the reference's share plus the configured tolerance or
    four standard errors of the difference of two sample shares, whichever is larger (with a 30% null
    reference, a flat +2% fails ~3% of clean 2,500-row nights; four standard errors almost never)."""
    se = (ref_null * (1 - ref_null) * (1 / max(n, 1) + 1 / max(n_ref, 1))) ** 0.5
    return min(1.0, ref_null + max(tolerance, 4 * se))


def unseen_allowance(counts: dict[str, int], share: float) -> float:
    """Unseen share allowed: the configured share plus the reference's own missing mass (Good-Turing:
    categories seen once / rows). A long tail keeps producing new categories on clean nights."""
    rows = sum(counts.values())
    singletons = sum(1 for c in counts.values() if c == 1)
    return min(1.0, share + (singletons / rows if rows else 0.0))


def _column_rules(cfg: ModelConfig, profile: ReferenceProfile) -> dict[str, list[_Rule]]:
    """The expectations of each column, evaluated together on that column's one-column frame."""
    import great_expectations.expectations as gxe

    v, cols = cfg.validation, cfg.columns
    rules: dict[str, list[_Rule]] = {}
    for col in cols.features:
        ref = profile.numeric.get(col) or profile.categorical.get(col)
        ref_null = ref.null_share if ref is not None else 0.0
        n_ref = ref.count if ref is not None else 0
        allowed = min(1.0, ref_null + v.null_tolerance)  # widened for sampling noise once the window's size is known
        rules.setdefault(col, []).append(
            _Rule(
                None,  # every feature has a range or a category rule below, whose result counts its nulls
                "null_value",
                col,
                f"{col} present (reference null share {ref_null:.2%})",
                allowed,
                ref_null=(ref_null, n_ref),
            )
        )
    for col in cols.numerical:
        n_ref = profile.numeric[col].count if col in profile.numeric else 0
        too_few = col not in v.ranges and n_ref < v.min_reference_rows
        # A range inferred from a handful of rows is its min and max: clean rows would breach it, so it is
        # left unbounded (the rule still counts the column's nulls) and its text says why.
        big = float(np.finfo(np.float64).max)  # GX needs one bound; this one holds every finite value
        lo, hi = (-big, big) if too_few else (v.ranges.get(col) or inferred_range(profile, col, v.range_iqr_k))
        text = (
            f"{col} range not enforced: reference has {n_ref} rows, below validation.min_reference_rows "
            f"({v.min_reference_rows})"
            if too_few
            else f"{col} within [{_fmt(lo)}, {_fmt(hi)}]"
        )
        rules[col].append(
            _Rule(
                gxe.ExpectColumnValuesToBeBetween(column=col, min_value=lo, max_value=hi, mostly=v.range_mostly),
                "out_of_range",
                col,
                text,
                1.0 - v.range_mostly,
                bounds=(-np.inf if lo is None else lo, np.inf if hi is None else hi),
                kind="expect_column_values_to_be_between",
            )
        )
    for col in cols.categorical:
        explicit = v.allowed_categories.get(col)
        counts = profile.categorical[col].counts
        allowed_set = explicit or sorted(counts)
        mostly = 1.0 - (v.unseen_category_share if explicit else unseen_allowance(counts, v.unseen_category_share))
        n_cat = sum(counts.values())
        text = f"{col} in the {len(allowed_set)} known categories"
        if not explicit and n_cat < v.min_reference_rows:
            # Too few reference rows to know the category set: unseen values are allowed (nulls still count).
            mostly = 0.0
            text = (
                f"{col} category set not enforced: reference has {n_cat} rows, below "
                f"validation.min_reference_rows ({v.min_reference_rows})"
            )
        rules[col].append(
            _Rule(
                gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(allowed_set), mostly=mostly),
                "unseen_category",
                col,
                text,
                1.0 - mostly,
                categories=frozenset(allowed_set),
                kind="expect_column_values_to_be_in_set",
            )
        )
    for col in probability_columns(cfg):
        rules.setdefault(col, []).extend(
            [
                _Rule(
                    gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0, max_value=1),
                    "out_of_range",
                    col,
                    f"{col} is a probability in [0, 1]",
                    0.0,
                    bounds=(0.0, 1.0),
                    kind="expect_column_values_to_be_between",
                ),
                # NaN is no probability: its column's range expectation counts it as missing
                _Rule(None, "null_value", col, f"{col} present (a probability in every row)", 0.0),
            ]
        )
    total = sum_column(cfg)
    if total is not None:
        lo, hi = 1 - SUM_TOLERANCE, 1 + SUM_TOLERANCE
        rules[total] = [
            _Rule(
                gxe.ExpectColumnValuesToBeBetween(column=total, min_value=lo, max_value=hi),
                "out_of_range",
                total,
                f"{total} sum to 1 (within {SUM_TOLERANCE})",
                0.0,
                bounds=(lo, hi),
                kind="expect_column_values_to_be_between",
            )
        ]
    return rules


def probability_columns(cfg: ModelConfig) -> list[str]:
    cols = cfg.columns
    return [*([cols.probability] if cols.probability else []), *cols.probabilities.values()]


def sum_column(cfg: ModelConfig) -> str | None:
    """The name of a multiclass model's row sum of class probabilities, checked as a column of its own."""
    probabilities = list(cfg.columns.probabilities.values())
    return " + ".join(probabilities) if len(probabilities) > 1 else None


def _numbers_rules(cfg: ModelConfig) -> list[_Rule]:
    """The columns that must hold numbers: text in one (a CSV's 'forty' among ages) is read as missing and
    counted here, from what the reader left in the chunk's ``NON_NUMERIC``."""
    cols = [*cfg.columns.numerical, *probability_columns(cfg)]
    if cfg.task == "regression":
        cols += [cfg.columns.prediction, cfg.columns.target]  # the target when it comes with the predictions
    return [_Rule(None, "out_of_range", c, f"{c} should hold numbers", 0.0, kind=_OF_TYPE) for c in dict.fromkeys(cols)]


def share_rule_keys(cfg: ModelConfig) -> list[str]:
    """The ``<column>:<expectation>`` keys of the model's share rules (those allowing a share of bad rows), as
    ``checks.shares.rule_key`` names them: what ``driftwarden accept --rule`` may name."""
    v, cols = cfg.validation, cfg.columns
    keys = [f"{c}:expect_column_values_to_not_be_null" for c in cols.features]
    if v.range_mostly < 1:
        keys += [f"{c}:expect_column_values_to_be_between" for c in cols.numerical]
    keys += [f"{c}:expect_column_values_to_be_in_set" for c in cols.categorical]
    return keys


def _id_rules(cfg: ModelConfig) -> list[_Rule]:
    import great_expectations.expectations as gxe

    c = cfg.columns.id
    if not cfg.validation.unique_id:
        return [_Rule(gxe.ExpectColumnValuesToNotBeNull(column=c), "null_value", c, f"{c} present", 0.0)]
    unique = gxe.ExpectColumnValuesToBeUnique(column=c)
    kind = "expect_column_values_to_be_unique"
    return [
        _Rule(None, "null_value", c, f"{c} present", 0.0),  # the uniqueness result counts the missing ids
        _Rule(unique, "duplicate_id", c, f"{c} unique", 0.0, kind=kind),
    ]


def _fmt(x: float | None) -> str:
    return "-inf" if x is None else f"{x:.4g}"


_suite_ids = itertools.count()


@cache
def _batch_definition() -> Any:
    import great_expectations as gx
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX fingerprints every in-memory batch below HASH_THRESHOLD bytes with an MD5 over all its values
    # (0.2 s a million rows, twice per validation) for a batch marker nothing here reads.
    pandas_engine.HASH_THRESHOLD = 0
    # GX announces the temporary folder of its (unused) docs site at INFO; that is not news to anyone.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = ctx.data_sources.add_pandas("driftwarden").add_dataframe_asset("window")
    return asset.add_batch_definition_whole_dataframe("whole")


def _suite(name: str, rules: list[_Rule]) -> Any:
    """One GX suite of the rules, each expectation tagged with its rule's index (results are read by tag)."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"{name}-{next(_suite_ids)}")
    for i, rule in enumerate(rules):
        if rule.expectation is None:
            continue
        rule.expectation.meta = {**(rule.expectation.meta or {}), "driftwarden": i}
        suite.add_expectation(rule.expectation)
    return suite


def _validate(frame: pd.DataFrame, suite: Any) -> dict[int, dict[str, Any]]:
    with _gx_lock:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format="BASIC")
    return {int(r.expectation_config.meta["driftwarden"]): (r.result or {}) for r in result.results}


def _failing_positions(frame: pd.DataFrame, rule: _Rule) -> np.ndarray:
    col = frame[rule.column]
    if rule.reason == "null_value":
        mask = col.isna().to_numpy()
    elif rule.reason == "out_of_range" and rule.bounds is not None:
        values = pd.to_numeric(col, errors="coerce")
        mask = (values.notna() & ((values < rule.bounds[0]) | (values > rule.bounds[1]))).to_numpy()
    elif rule.reason == "unseen_category" and rule.categories is not None:
        mask = (col.notna() & ~col.isin(rule.categories)).to_numpy()
    else:
        mask = col.duplicated(keep=False).to_numpy()
    return np.flatnonzero(mask)[:MAX_ROWS_PER_FAILURE]


@dataclass
class _Tally:
    """A rule's merged counts: rows it considered, rows that broke it, and the first of those rows."""

    considered: int = 0
    bad: int = 0
    positions: list[np.ndarray] = field(default_factory=list)
    rows: list[pd.DataFrame] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def show(self, values: Any) -> None:
        """Keep the first few distinct breaking values, as text."""
        self.keep(repr(v) if isinstance(v, str) else f"{v:.6g}" if isinstance(v, float) else str(v) for v in values)

    def keep(self, texts: Any) -> None:
        for text in texts:
            if len(self.examples) >= EXAMPLES:
                return
            if text not in self.examples:
                self.examples.append(text)

    @property
    def kept(self) -> int:
        return sum(len(p) for p in self.positions)

    def merge(self, other: _Tally, offset: int) -> None:
        """Add the counts of rows read after these (row numbers shifted by ``offset``), keeping the first
        MAX_ROWS_PER_FAILURE failing rows in reading order."""
        self.considered += other.considered
        self.bad += other.bad
        self.keep(other.examples)
        for positions, rows in zip(other.positions, other.rows, strict=True):
            room = MAX_ROWS_PER_FAILURE - self.kept
            if room <= 0:
                break
            self.positions.append(positions[:room] + offset)
            self.rows.append(rows.iloc[:room])


@dataclass
class ValidationPart:
    """The counts of some consecutive rows of a window (a chunk, or chunks merged): what a worker sends back."""

    rows: int = 0
    tallies: list[_Tally] = field(default_factory=list)

    def merge(self, other: ValidationPart) -> None:
        """Add the counts of the rows read right after these."""
        if not self.tallies:
            self.tallies = [_Tally() for _ in other.tallies]
        for mine, theirs in zip(self.tallies, other.tallies, strict=True):
            mine.merge(theirs, self.rows)
        self.rows += other.rows


_Suites = tuple[dict[str, list[_Rule]], list[_Rule], Any, list[_Rule], Any]
_last_suites: list[tuple[ModelConfig, ReferenceProfile, _Suites]] = []
_gx_lock = threading.RLock()
"""GX's context and suites are shared by the process; a worker of a cluster may validate chunks in threads."""


def _suites(cfg: ModelConfig, profile: ReferenceProfile) -> _Suites:
    """The rules and GX suites of a model and reference, built once for the same two objects (a backfill
    validates hundreds of windows against one reference; building the suites costs more than a small window)."""
    with _gx_lock:
        for seen_cfg, seen_profile, suites in _last_suites:
            if seen_cfg is cfg and seen_profile is profile:
                return suites
        columns = _column_rules(cfg, profile)
        rules = [rule for col_rules in columns.values() for rule in col_rules] + _numbers_rules(cfg)
        id_rules = _id_rules(cfg)
        suites = (columns, rules, _suite(cfg.name, rules), id_rules, _suite(cfg.name, id_rules))
        _last_suites[:] = [(cfg, profile, suites)]
        return suites


class BatchValidator:
    """The model's expectations over a window read in chunks: ``add`` each chunk (or ``merge`` the ``part`` of
    each, validated elsewhere, in reading order), then ``finish``."""

    def __init__(self, cfg: ModelConfig, profile: ReferenceProfile):
        with _gx_lock:
            _batch_definition()  # the GX context must exist before any suite is made
        self._cfg = cfg
        self._columns, self._rules, self._suite, self._id_rules, self._id_suite = _suites(cfg, profile)
        self._counts = ValidationPart(0, [_Tally() for _ in self._rules])

    def part(self, chunk: pd.DataFrame) -> ValidationPart:
        """One chunk's counts, its row numbers from 0 (this validator's counts stay as they are)."""
        cfg = self._cfg
        categorical = set(cfg.columns.categorical)
        total = sum_column(cfg)
        if total is not None:  # the row sums of the class probabilities, a column of their own for GX
            chunk = chunk.assign(**{total: chunk[list(cfg.columns.probabilities.values())].sum(axis=1, skipna=False)})
        frame = pd.DataFrame(
            {
                col: (as_category_text(chunk[col]) if col in categorical else chunk[col]).to_numpy()
                for col in self._columns
            }
        )
        tallies = [_Tally() for _ in self._rules]
        _tally_chunk(frame, chunk, self._rules, self._suite, tallies)
        texts = chunk.attrs.get(NON_NUMERIC, {})
        for rule, tally in zip(self._rules, tallies, strict=True):
            if rule.kind == _OF_TYPE:
                held = texts.get(rule.column)
                tally.considered += len(chunk)
                if held is not None and len(held) == len(chunk):
                    bad = pd.Series(held).dropna()
                    tally.bad += len(bad)
                    tally.show(bad.iloc[: EXAMPLES * 10].tolist())
        return ValidationPart(len(chunk), tallies)

    def merge(self, part: ValidationPart) -> None:
        """Add the counts of the rows read right after those counted so far."""
        self._counts.merge(part)

    def add(self, chunk: pd.DataFrame) -> None:
        self.merge(self.part(chunk))

    def finish(self, ids: pd.DataFrame) -> ValidationResult:
        """The window's outcome. ``ids`` holds the id column of every row of the window in reading order (and
        whatever else was kept of each row): presence and uniqueness are checked over all of it at once."""
        id_col = self._cfg.columns.id
        id_rules = self._id_rules
        id_tallies = [_Tally() for _ in id_rules]
        kept = ids.reset_index(drop=True)
        _tally_chunk(kept[[id_col]], kept, id_rules, self._id_suite, id_tallies)
        outcomes: list[ExpectationOutcome] = []
        failing: list[RowFailure] = []
        checked = [(self._rules, self._counts.tallies), (id_rules, id_tallies)]
        private = {*self._cfg.failures.mask, *self._cfg.failures.exclude}  # their values are never shown
        for rules, tallies in checked:
            for rule, tally in zip(rules, tallies, strict=True):
                allowed = rule.allowed_share
                if rule.ref_null is not None:  # the null tolerance narrows as the window grows
                    ref_share, ref_rows = rule.ref_null
                    tolerance = self._cfg.validation.null_tolerance
                    allowed = null_allowance(ref_share, self._counts.rows, ref_rows, tolerance)
                share = tally.bad / tally.considered if tally.considered else None
                success = share is None or share <= allowed + 1e-12
                kind = rule.kind
                examples = () if rule.column in private else tuple(tally.examples)
                hint = ""
                if rule.categories is not None and tally.rows and rule.column not in private:
                    hint = _spelling_hint(pd.concat(tally.rows)[rule.column], rule.categories)
                outcomes.append(
                    ExpectationOutcome(
                        kind,
                        rule.column,
                        success,
                        share,
                        allowed,
                        rule.words,
                        tally.bad,
                        tally.considered,
                        examples=examples,
                        hint=hint,
                    )  # fmt: skip
                )
                if not success and tally.positions:
                    positions = tuple(int(p) for p in np.concatenate(tally.positions))
                    failing.append(RowFailure(rule.reason, rule.column, positions, pd.concat(tally.rows)))
        return ValidationResult(all(o.success for o in outcomes), tuple(outcomes), tuple(failing))


def _spelling_hint(values: pd.Series, known: frozenset[str], most: int = 3) -> str:
    """Which unseen values of a category column are a known category but for case or whitespace ('Yes ' for
    'yes': a feed that changed its spelling, not a new category)."""
    seen = [v for v in dict.fromkeys(as_category_text(values).dropna()) if v not in known]
    folded = {k.strip().casefold(): k for k in known}
    near = [(v, folded[v.strip().casefold()]) for v in seen if v.strip().casefold() in folded][:most]
    if not near:
        return ""
    pairs = ", ".join(f"{v!r} for {k!r}" for v, k in near)
    return f"; {pairs}: the same category but for case or whitespace (the feed changed its spelling?)"


def _tally_chunk(
    frame: pd.DataFrame, chunk: pd.DataFrame, rules: list[_Rule], suite: Any, tallies: list[_Tally]
) -> None:
    """Validate one chunk's ``frame`` of the checked columns with GX and add its counts (and first failing rows
    of ``chunk``, numbered from 0) to the rules' tallies."""
    results = _validate(frame, suite)
    by_column = {rules[i].column: result for i, result in results.items()}
    for i, rule in enumerate(rules):
        if rule.kind == _OF_TYPE:  # counted from what the reader saw (BatchValidator.part)
            continue
        tally = tallies[i]
        result = results[i] if rule.expectation is not None else by_column[rule.column]
        elements, missing = int(result.get("element_count", 0)), int(result.get("missing_count", 0) or 0)
        if rule.expectation is None:  # a null rule: its column's value expectation counted the nulls
            bad = missing
        else:
            bad = int(result.get("unexpected_count", 0) or 0)
        tally.considered += elements if rule.reason == "null_value" else elements - missing
        tally.bad += bad
        room = MAX_ROWS_PER_FAILURE - tally.kept
        if bad and room > 0:
            positions = _failing_positions(frame, rule)[:room]
            tally.positions.append(positions)
            tally.rows.append(chunk.iloc[positions])
            if rule.reason != "null_value":
                tally.show(frame[rule.column].iloc[positions[: EXAMPLES * 10]].tolist())


def validate_batch(batch: pd.DataFrame, cfg: ModelConfig, profile: ReferenceProfile) -> ValidationResult:
    """Validate one in-memory batch (a window read as one chunk)."""
    validator = BatchValidator(cfg, profile)
    validator.add(batch)
    return validator.finish(batch)
