"""Validate a batch with Great Expectations 1.x: a suite built from the config and the reference profile.

The suite is aggregate where GX allows (null shares, id uniqueness); ranges and category sets use
``mostly`` so one odd row does not fail a clean night. Failing rows are collected afterwards, and only
for the expectations that failed, by re-applying their rule in pandas.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from checks.profile import ReferenceProfile, as_category_text
from config.model import ModelConfig

log = logging.getLogger(__name__)

RowReason = Literal["null_value", "out_of_range", "unseen_category", "duplicate_id"]
MAX_ROWS_PER_FAILURE = 1000


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

    @property
    def detail(self) -> str:
        seen = "" if self.bad_share is None else f"{self.bad_share:.2%} of rows break it, "
        return f"{self.rule}: {seen}at most {self.allowed_share:.2%} allowed"


@dataclass(frozen=True)
class RowFailure:
    reason: RowReason
    column: str
    positions: tuple[int, ...]
    """Row positions in the validated batch (at most MAX_ROWS_PER_FAILURE)."""


@dataclass(frozen=True)
class ValidationResult:
    success: bool
    outcomes: tuple[ExpectationOutcome, ...]
    failing_rows: tuple[RowFailure, ...]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


@dataclass(frozen=True)
class _Rule:
    expectation: Any
    reason: RowReason
    column: str
    words: str
    allowed_share: float
    observed_is_good_share: bool = False
    """GX reports the share of good rows (non-null, unique) rather than of unexpected ones."""
    bounds: tuple[float, float] | None = None
    categories: frozenset[str] | None = None


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


def _suite_rules(cfg: ModelConfig, profile: ReferenceProfile, n: int) -> list[_Rule]:
    import great_expectations.expectations as gxe

    v, cols = cfg.validation, cfg.columns
    rules: list[_Rule] = []
    for col in cols.features:
        ref = profile.numeric.get(col) or profile.categorical.get(col)
        ref_null = ref.null_share if ref is not None else 0.0
        n_ref = ref.count if ref is not None else 0
        min_non_null = 1.0 - null_allowance(ref_null, n, n_ref, v.null_tolerance)
        rules.append(
            _Rule(
                gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(column=col, min_value=min_non_null),
                "null_value",
                col,
                f"{col} present (reference null share {ref_null:.2%})",
                1.0 - min_non_null,
                observed_is_good_share=True,
            )
        )
    for col in cols.numerical:
        lo, hi = v.ranges.get(col) or inferred_range(profile, col, v.range_iqr_k)
        rules.append(
            _Rule(
                gxe.ExpectColumnValuesToBeBetween(column=col, min_value=lo, max_value=hi, mostly=v.range_mostly),
                "out_of_range",
                col,
                f"{col} within [{_fmt(lo)}, {_fmt(hi)}]",
                1.0 - v.range_mostly,
                bounds=(-np.inf if lo is None else lo, np.inf if hi is None else hi),
            )
        )
    for col in cols.categorical:
        explicit = v.allowed_categories.get(col)
        counts = profile.categorical[col].counts
        allowed = explicit or sorted(counts)
        mostly = 1.0 - (v.unseen_category_share if explicit else unseen_allowance(counts, v.unseen_category_share))
        rules.append(
            _Rule(
                gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(allowed), mostly=mostly),
                "unseen_category",
                col,
                f"{col} in the {len(allowed)} known categories",
                1.0 - mostly,
                categories=frozenset(allowed),
            )
        )
    if cols.probability:
        rules.append(
            _Rule(
                gxe.ExpectColumnValuesToBeBetween(column=cols.probability, min_value=0, max_value=1),
                "out_of_range",
                cols.probability,
                f"{cols.probability} is a probability in [0, 1]",
                0.0,
                bounds=(0.0, 1.0),
            )
        )
    if v.unique_id:
        rules.append(
            _Rule(
                gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(column=cols.id, min_value=1.0),
                "duplicate_id",
                cols.id,
                f"{cols.id} unique",
                0.0,
                observed_is_good_share=True,
            )
        )
    rules.append(
        _Rule(gxe.ExpectColumnValuesToNotBeNull(column=cols.id), "null_value", cols.id, f"{cols.id} present", 0.0)
    )
    return rules


def _fmt(x: float | None) -> str:
    return "-inf" if x is None else f"{x:.4g}"


_suite_ids = itertools.count()


@cache
def _batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX announces the temporary folder of its (unused) docs site at INFO; that is not news to anyone.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = ctx.data_sources.add_pandas("driftwarden").add_dataframe_asset("window")
    return asset.add_batch_definition_whole_dataframe("whole")


def _validation_frame(batch: pd.DataFrame, cfg: ModelConfig) -> pd.DataFrame:
    cols = cfg.columns
    keep = [c for c in dict.fromkeys([cols.id, *cols.features, cols.probability]) if c]
    frame = batch[keep].copy()
    for c in cols.categorical:
        frame[c] = as_category_text(frame[c])
    return frame.reset_index(drop=True)


def _bad_share(rule: _Rule, result: dict[str, Any]) -> float | None:
    if rule.observed_is_good_share:
        value = result.get("observed_value")
        return 1.0 - float(value) if isinstance(value, int | float) else None
    share = result.get("unexpected_percent")
    return None if share is None else float(share) / 100


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


def _prechecks(rule: _Rule) -> list[Any]:
    """Aggregate stand-ins for a range rule: if the column's min and max lie inside, so does every row."""
    import great_expectations.expectations as gxe

    assert rule.bounds is not None
    lo, hi = rule.bounds
    out: list[Any] = []
    if np.isfinite(lo):
        out.append(gxe.ExpectColumnMinToBeBetween(column=rule.column, min_value=lo))
    if np.isfinite(hi):
        out.append(gxe.ExpectColumnMaxToBeBetween(column=rule.column, max_value=hi))
    return out


def _run_suite(name: str, frame: pd.DataFrame, tagged: list[tuple[str, Any]]) -> dict[str, Any]:
    """Validate the frame with the tagged expectations; results by tag (never by position)."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"{name}-{next(_suite_ids)}")
    for tag, expectation in tagged:
        expectation.meta = {**(expectation.meta or {}), "driftwarden": tag}
        suite.add_expectation(expectation)
    result = _batch_definition().get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format="BASIC")
    return {r.expectation_config.meta["driftwarden"]: r for r in result.results}


def validate_batch(batch: pd.DataFrame, cfg: ModelConfig, profile: ReferenceProfile) -> ValidationResult:
    """Run the model's suite on the batch; rows of failed expectations are collected for the failure log.

    Aggregate first: a range rule runs row by row only for a column whose min or max lies outside it
    (at a million rows that saves seconds; the outcome is the same)."""
    _batch_definition()  # the GX context must exist before any suite is made
    frame = _validation_frame(batch, cfg)
    rules = _suite_rules(cfg, profile, len(frame))
    first: list[tuple[str, Any]] = []
    for i, rule in enumerate(rules):
        if rule.bounds is not None and len(frame):
            first += [(f"{i}:pre{j}", pre) for j, pre in enumerate(_prechecks(rule))]
        else:
            first.append((f"{i}:main", rule.expectation))
    results = _run_suite(cfg.name, frame, first)
    inside = {
        i for i, rule in enumerate(rules)
        if rule.bounds is not None and len(frame) and all(
            r.success for tag, r in results.items() if tag.startswith(f"{i}:pre")
        )
    }  # fmt: skip
    second = [(f"{i}:main", rules[i].expectation) for i, r in enumerate(rules) if f"{i}:main" not in results]
    second = [(tag, e) for tag, e in second if int(tag.split(":")[0]) not in inside]
    if second:
        results.update(_run_suite(cfg.name, frame, second))
    outcomes: list[ExpectationOutcome] = []
    failing: list[RowFailure] = []
    for i, rule in enumerate(rules):
        kind = rule.expectation.expectation_type
        if i in inside:
            outcomes.append(ExpectationOutcome(kind, rule.column, True, 0.0, rule.allowed_share, rule.words))
            continue
        res = results[f"{i}:main"]
        success = bool(res.success)
        bad = _bad_share(rule, res.result or {})
        outcomes.append(ExpectationOutcome(kind, rule.column, success, bad, rule.allowed_share, rule.words))
        if not success and len(frame):
            positions = _failing_positions(frame, rule)
            if positions.size:
                failing.append(RowFailure(rule.reason, rule.column, tuple(int(p) for p in positions)))
    return ValidationResult(all(o.success for o in outcomes), tuple(outcomes), tuple(failing))
