"""Drift per segment value: each feature of the rows of one value of a segment column (``segments`` in the
config) against the reference's rows of the same value, in the same pass as the window's drift.

The same methods and rules as the window's drift (``rules.py``): ``auto`` by kind and rows, a distance against
its threshold raised to its noise floor, p-values with Holm, here across every segment value x feature at
``drift.p_value``. A cell with fewer than ``drift.segment_min_rows`` rows in the window or in the reference is
"not evaluated". Only the reference's most frequent values are evaluated (``drift.segment_values``); the rows of
the others are counted and said to be left out. Informational: no part of the window's verdict.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from driftwarden.checks.drift.results import SegmentCell, SegmentDrift, SegmentLeftOut
from driftwarden.checks.drift.rules import ColumnMeasure, column_measure, holm
from driftwarden.checks.profile import (
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    SegmentProfiles,
    category_text,
)
from driftwarden.checks.sketch import Sketch, new_sketch
from driftwarden.config.model import DriftConfig

SEGMENT_GRID = 256
"""Uniform bins added to a segment value's numeric edges (the window's drift uses 4,096): its reference sample is
small, and 20 values x 20 features of sketches must stay light."""
LEFT_OUT_NAMES = 1_000
"""Distinct left-out values counted exactly up to this many per window (then 'more than')."""


@dataclass
class SegmentSketches:
    """One segment column in a window: sketches of the features per profiled value, mergeable in any order."""

    sketches: dict[str, dict[str, Sketch]]
    """Value -> feature -> sketch."""
    rows: dict[str, int] = field(default_factory=dict)
    left_out_rows: int = 0
    left_out: set[str] | None = field(default_factory=set)
    """Distinct values seen that are not profiled (None: more than LEFT_OUT_NAMES)."""

    @classmethod
    def for_profile(cls, seg: SegmentProfiles, features: list[str]) -> SegmentSketches:
        sketches: dict[str, dict[str, Sketch]] = {}
        for value, prof in seg.values.items():
            known: dict[str, NumericProfile | CategoricalProfile] = {**prof.numeric, **prof.categorical}
            sketches[value] = {f: new_sketch(known[f], SEGMENT_GRID) for f in features if f in known}
        return cls(sketches, dict.fromkeys(sketches, 0))

    def empty(self) -> SegmentSketches:
        blank = {v: {f: s.empty() for f, s in per.items()} for v, per in self.sketches.items()}
        return SegmentSketches(blank, dict.fromkeys(blank, 0))

    def add(self, rows: pd.DataFrame, column: str) -> None:
        """Sort the rows by value once, then sketch each profiled value's slice of each feature."""
        codes, uniques = pd.factorize(rows[column], use_na_sentinel=True)
        if not len(uniques):
            return
        names = list(self.sketches)
        index = {v: i for i, v in enumerate(names)}
        texts = [category_text(u) for u in uniques]
        lookup = np.array([index.get(t, -1) for t in texts] + [-2], dtype=np.int64)  # -2: null, -1: left out
        slot = lookup[codes]
        outside = slot == -1
        if outside.any():
            self.left_out_rows += int(outside.sum())
            if self.left_out is not None:
                self.left_out |= {t for t, i in zip(texts, lookup[:-1], strict=True) if i == -1}
                if len(self.left_out) > LEFT_OUT_NAMES:
                    self.left_out = None
        order = np.argsort(slot, kind="stable")
        sizes = np.bincount(slot[slot >= 0], minlength=len(names))
        start = int((slot < 0).sum())  # nulls and left-out values sort first
        bounds = np.concatenate([[start], start + np.cumsum(sizes)])
        features = {f for per in self.sketches.values() for f in per}
        picked = {f: rows[f].to_numpy()[order] for f in features}
        for i, value in enumerate(names):
            if not sizes[i]:
                continue
            self.rows[value] += int(sizes[i])
            for f, sketch in self.sketches[value].items():
                sketch.add(pd.Series(picked[f][bounds[i] : bounds[i + 1]]))

    def merge(self, other: SegmentSketches) -> None:
        for value, per in other.sketches.items():
            for f, sketch in per.items():
                self.sketches[value][f].merge(sketch)
            self.rows[value] += other.rows.get(value, 0)
        self.left_out_rows += other.left_out_rows
        if self.left_out is not None and other.left_out is not None:
            self.left_out |= other.left_out
            if len(self.left_out) > LEFT_OUT_NAMES:
                self.left_out = None
        else:
            self.left_out = None

    def detached(self) -> SegmentSketches:
        new = copy.copy(self)
        new.sketches = {v: {f: s.detached() for f, s in per.items()} for v, per in self.sketches.items()}
        return new


def segment_sketches(profile: ReferenceProfile, segments: list[str], features: list[str]) -> dict[str, SegmentSketches]:
    """Empty sketches of every segment column the profile has values for."""
    return {  # a segment column's own values are one category within each value: not measured there
        col: SegmentSketches.for_profile(profile.segments[col], [f for f in features if f != col])
        for col in segments
        if col in profile.segments
    }


def decide_segment_drift(
    sketches: Mapping[str, SegmentSketches], profile: ReferenceProfile, cfg: DriftConfig, segments: list[str]
) -> SegmentDrift:
    """Every segment value x feature against the reference's rows of that value; p-values Holm-corrected
    across all of them together."""
    rules = cfg.model_copy(update={"min_rows": cfg.segment_min_rows})
    measured: list[tuple[str, str, int, ColumnMeasure]] = []
    unprofiled = []
    for col in segments:
        profiled = profile.segments.get(col)
        found = sketches.get(col)
        if profiled is None or found is None or not profiled.values:
            unprofiled.append(col)
            continue
        for value, per in found.sketches.items():
            ref = profiled.values[value]
            known: dict[str, NumericProfile | CategoricalProfile] = {**ref.numeric, **ref.categorical}
            for feature, sketch in per.items():
                key = f"{col}={value}"
                measured.append(
                    (key, feature, known[feature].count, column_measure(feature, sketch, known[feature], rules))
                )
    pvals = {
        f"{seg}\x00{feat}": m.value
        for seg, feat, _, m in measured
        if m.method is not None and m.method.yields == "p_value" and m.value is not None
    }
    family = holm(pvals, cfg.p_value)
    cells = []
    for seg, feat, ref_rows, m in measured:
        if m.value is None or m.method is None:
            note = m.note.replace("< min_rows", "< drift.segment_min_rows")
            cells.append(SegmentCell(seg, feat, "none", None, None, None, m.rows, ref_rows, note))
        elif m.method.yields == "p_value":
            rejected, level = family[f"{seg}\x00{feat}"]
            cells.append(SegmentCell(seg, feat, m.method.key, m.value, level, rejected, m.rows, ref_rows, m.note))
        else:
            configured = m.method.threshold(cfg)
            thr = max(configured, m.floor)
            note = f"threshold raised to the noise floor {m.floor:.3f}" if m.floor > configured else m.note
            drifted = bool(m.value >= thr) if not np.isnan(m.value) else None
            cells.append(SegmentCell(seg, feat, m.method.key, m.value, thr, drifted, m.rows, ref_rows, note))
    left = tuple(
        SegmentLeftOut(col, len(s.left_out) if s.left_out is not None else LEFT_OUT_NAMES + 1, s.left_out_rows,
                       cfg.segment_values)
        for col, s in sketches.items()
        if s.left_out_rows
    )  # fmt: skip
    result = SegmentDrift(tuple(cells), left)
    evaluated = [c for c in cells if c.drifted is not None]
    hit = result.drifted
    note = f"{len(evaluated)} of {len(cells)} segment value x feature cells evaluated"
    if hit:
        note += "; drifted: " + "; ".join(f"{seg}: {', '.join(f)}" for seg, f in hit.items())
    if unprofiled:
        note += f"; not evaluated, no value in the reference's profile: {', '.join(unprofiled)}"
    return SegmentDrift(result.cells, left, note)
