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
    observed: float | None
    """The observed share (unexpected share, non-null share or unique share) where GX reports one."""
    rule: str
    """The rule in plain words, e.g. 'income within [0, 5.2e5] for 99.9% of rows'."""


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
    reason: RowReason | None
    column: str | None
    words: str
    bounds: tuple[float, float] | None = None
    allowed: frozenset[str] | None = None


def inferred_range(profile: ReferenceProfile, column: str, k: float) -> tuple[float, float]:
    """[q0.001 - k*IQR, q0.999 + k*IQR] of the reference: a clean batch stays inside it."""
    p = profile.numeric[column]
    iqr = p.q75 - p.q25
    return p.q001 - k * iqr, p.q999 + k * iqr


def _suite_rules(cfg: ModelConfig, profile: ReferenceProfile) -> list[_Rule]:
    import great_expectations.expectations as gxe

    v, cols = cfg.validation, cfg.columns
    rules: list[_Rule] = []
    for col in cols.features:
        ref = profile.numeric.get(col) or profile.categorical.get(col)
        ref_null = ref.null_share if ref is not None else 0.0
        min_non_null = max(0.0, 1.0 - ref_null - v.null_tolerance)
        rules.append(
            _Rule(
                gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(column=col, min_value=min_non_null),
                "null_value",
                col,
                f"{col} non-null in at least {min_non_null:.1%} of rows",
            )
        )
    for col in cols.numerical:
        lo, hi = v.ranges.get(col) or inferred_range(profile, col, v.range_iqr_k)
        rules.append(
            _Rule(
                gxe.ExpectColumnValuesToBeBetween(column=col, min_value=lo, max_value=hi, mostly=v.range_mostly),
                "out_of_range",
                col,
                f"{col} within [{_fmt(lo)}, {_fmt(hi)}] for {v.range_mostly:.1%} of rows",
                bounds=(-np.inf if lo is None else lo, np.inf if hi is None else hi),
            )
        )
    for col in cols.categorical:
        allowed = v.allowed_categories.get(col) or sorted(profile.categorical[col].counts)
        mostly = 1.0 - v.unseen_category_share
        rules.append(
            _Rule(
                gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(allowed), mostly=mostly),
                "unseen_category",
                col,
                f"{col} in the {len(allowed)} known categories for {mostly:.1%} of rows",
                allowed=frozenset(allowed),
            )
        )
    if cols.probability:
        rules.append(
            _Rule(
                gxe.ExpectColumnValuesToBeBetween(column=cols.probability, min_value=0, max_value=1),
                "out_of_range",
                cols.probability,
                f"{cols.probability} is a probability in [0, 1]",
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
            )
        )
    rules.append(_Rule(gxe.ExpectColumnValuesToNotBeNull(column=cols.id), "null_value", cols.id, f"{cols.id} present"))
    return rules


def _fmt(x: float | None) -> str:
    return "-inf" if x is None else f"{x:.4g}"


_suite_ids = itertools.count()


@cache
def _batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

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


def _observed(result: dict[str, Any]) -> float | None:
    if "unexpected_percent" in result and result["unexpected_percent"] is not None:
        return float(result["unexpected_percent"]) / 100
    value = result.get("observed_value")
    return float(value) if isinstance(value, int | float) else None


def _failing_positions(frame: pd.DataFrame, rule: _Rule) -> np.ndarray:
    col = frame[rule.column]
    if rule.reason == "null_value":
        mask = col.isna().to_numpy()
    elif rule.reason == "out_of_range" and rule.bounds is not None:
        values = pd.to_numeric(col, errors="coerce")
        mask = (values.notna() & ((values < rule.bounds[0]) | (values > rule.bounds[1]))).to_numpy()
    elif rule.reason == "unseen_category" and rule.allowed is not None:
        mask = (col.notna() & ~col.isin(rule.allowed)).to_numpy()
    else:
        mask = col.duplicated(keep=False).to_numpy()
    return np.flatnonzero(mask)[:MAX_ROWS_PER_FAILURE]


def validate_batch(batch: pd.DataFrame, cfg: ModelConfig, profile: ReferenceProfile) -> ValidationResult:
    """Run the model's suite on the batch; rows of failed expectations are collected for the failure log."""
    import great_expectations as gx

    batch_definition = _batch_definition()  # the GX context must exist before any suite is made
    frame = _validation_frame(batch, cfg)
    rules = _suite_rules(cfg, profile)
    suite = gx.ExpectationSuite(name=f"{cfg.name}-{next(_suite_ids)}")
    for i, rule in enumerate(rules):
        rule.expectation.meta = {**(rule.expectation.meta or {}), "driftwarden_rule": i}
        suite.add_expectation(rule.expectation)
    gx_result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format="BASIC")
    # Match results to rules by the tag each expectation carries, never by position.
    by_rule = {r.expectation_config.meta["driftwarden_rule"]: r for r in gx_result.results}
    outcomes: list[ExpectationOutcome] = []
    failing: list[RowFailure] = []
    for i, rule in enumerate(rules):
        res = by_rule[i]
        success = bool(res.success)
        observed = _observed(res.result or {})
        outcomes.append(ExpectationOutcome(res.expectation_config.type, rule.column, success, observed, rule.words))
        if not success and rule.reason and rule.column and len(frame):
            positions = _failing_positions(frame, rule)
            if positions.size:
                failing.append(RowFailure(rule.reason, rule.column, tuple(int(p) for p in positions)))
    return ValidationResult(all(o.success for o in outcomes), tuple(outcomes), tuple(failing))
