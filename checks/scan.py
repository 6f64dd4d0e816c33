"""One pass over a window's predictions, chunk by chunk, collecting everything the run decides on.

The monitoring run never holds a window's features whole: each chunk is validated (GX, counts merged),
sketched for drift, sampled for the report, and reduced to the few columns KPIs need (id, prediction,
probabilities, model version, segments, label) plus the rows that could make the failure log. Earlier
windows within the label horizon (label catch-up) get the same reduction, without validation or drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from driftwarden.checks.drift import Role
from driftwarden.checks.failures import failure_candidates
from driftwarden.checks.profile import ReferenceProfile
from driftwarden.checks.sketch import Sketch, new_sketch
from driftwarden.checks.validation import BatchValidator, ValidationResult
from driftwarden.config.model import ModelConfig

SKETCH_THREADS = 2


def attach_labels(cfg: ModelConfig, predictions: pd.DataFrame, labels: pd.DataFrame | None) -> pd.DataFrame:
    """Predictions that have a label, with the label in the target column (``labels`` None: the target
    came with the predictions)."""
    c = cfg.columns
    if labels is None or cfg.sources.labels is None:
        return predictions[predictions[c.target].notna()].reset_index(drop=True)
    joined = predictions.merge(labels, on=c.id, how="inner")
    return joined[joined[c.target].notna()].reset_index(drop=True)


def kpi_columns(cfg: ModelConfig) -> list[str]:
    """What KPIs and the failure log need of every row: id, prediction, probabilities, version, segments."""
    c = cfg.columns
    cols = [c.id, c.prediction, *([c.probability] if c.probability else []), *c.probabilities.values()]
    cols += [*([c.model_version] if c.model_version else []), *cfg.segments]
    if cfg.sources.labels is None:
        cols.append(c.target)
    return list(dict.fromkeys(cols))


def drift_columns(cfg: ModelConfig, profile: ReferenceProfile) -> list[tuple[str, Role]]:
    """The features, and apart the prediction (the probability of a binary model), that drift is measured on."""
    c = cfg.columns
    out: list[tuple[str, Role]] = [(f, "feature") for f in c.features]
    pred = c.probability if cfg.task == "binary" and c.probability else c.prediction
    if pred in profile.numeric or pred in profile.categorical:
        out.append((pred, "prediction"))
    return out


@dataclass(frozen=True)
class WindowPart:
    """What a window's rows come to after the pass."""

    rows: int
    labelled: pd.DataFrame
    """The labelled rows, KPI columns only (see ``kpi_columns``) with the label in the target column."""
    candidates: pd.DataFrame
    """Labelled rows with every column read: the worst of each failure reason, per chunk."""


@dataclass(frozen=True)
class ScanResult:
    window: WindowPart
    validation: ValidationResult | None
    """None when the window had no rows."""
    sketches: dict[str, tuple[Role, Sketch]]
    sample: pd.DataFrame
    """A seeded uniform sample of the window's features (for the Evidently report)."""
    earlier: dict[pd.Timestamp, WindowPart]
    """Earlier windows within the label horizon, by window start."""


@dataclass
class _Columns:
    """Rows gathered chunk by chunk as one array list per column; ``frame`` joins them a column at a time,
    letting each column's pieces go before the next, so that the window's rows are never held twice."""

    names: list[str]
    pieces: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, frame: pd.DataFrame) -> None:
        for col in self.names:
            self.pieces.setdefault(col, []).append(frame[col].to_numpy())

    def frame(self) -> pd.DataFrame:
        columns = {}
        for col in self.names:
            pieces = self.pieces.pop(col, [])
            columns[col] = np.concatenate(pieces) if pieces else np.array([], dtype=object)
            del pieces
        return pd.DataFrame(columns, copy=False)


@dataclass
class _Part:
    columns: list[str]
    """The KPI columns and the target."""
    rows: int = 0
    labelled: _Columns = field(init=False)
    candidates: list[pd.DataFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labelled = _Columns(self.columns)

    def add(self, cfg: ModelConfig, rows: pd.DataFrame, labels: pd.DataFrame | None) -> None:
        """Label the chunk's rows (joined on the KPI columns only) and keep its failure candidates whole."""
        self.rows += len(rows)
        target = cfg.columns.target
        slim = attach_labels(cfg, rows[kpi_columns(cfg)].assign(_row=np.arange(len(rows))), labels)
        picked = failure_candidates(slim, cfg)
        whole = rows.iloc[picked["_row"].to_numpy()].reset_index(drop=True)
        whole[target] = picked[target].to_numpy()
        self.candidates.append(whole)
        self.labelled.add(slim)

    def finish(self, columns: list[str]) -> WindowPart:
        return WindowPart(self.rows, self.labelled.frame(), _concat(self.candidates, columns))


@cache
def _pool() -> ThreadPoolExecutor:
    """The same worker threads for every chunk and window: new threads would each take a malloc arena of
    their own, and memory freed in one arena is not reused by another (hundreds of MB over a long window)."""
    return ThreadPoolExecutor(max_workers=SKETCH_THREADS, thread_name_prefix="driftwarden-sketch")


def _rows_between(chunk: pd.DataFrame, ts: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    inside = ((ts >= start) & (ts < end)).to_numpy()
    return chunk if inside.all() else chunk[inside].reset_index(drop=True)


def _concat(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)


class WindowScan:
    """``add`` the chunks of [horizon start, window end) in time order, then ``finish``.

    ``earlier`` are the (start, end) of earlier windows to re-score; ``labels`` the (id, target) known so
    far, None when the target comes with the predictions."""

    def __init__(
        self,
        cfg: ModelConfig,
        profile: ReferenceProfile,
        start: pd.Timestamp,
        end: pd.Timestamp,
        labels: pd.DataFrame | None,
        earlier: Sequence[tuple[pd.Timestamp, pd.Timestamp]] = (),
        sample_rows: int = 5000,
        seed: int = 0,
    ):
        self._cfg, self._profile, self._labels = cfg, profile, labels
        self._start, self._end = start, end
        self._earlier = {s: (s, e) for s, e in earlier}
        slim = list(dict.fromkeys([*kpi_columns(cfg), cfg.columns.target]))
        self._parts = {s: _Part(slim) for s in self._earlier}
        self._window = _Part(slim)
        self._validator: BatchValidator | None = None
        self._sketches = {
            name: (role, new_sketch(profile.numeric.get(name) or profile.categorical[name]))
            for name, role in drift_columns(cfg, profile)
        }
        self._ids = _Columns([cfg.columns.id])
        """Every row's id, for the window-wide presence and uniqueness checks."""
        self._sample_rows = sample_rows
        self._sample: pd.DataFrame | None = None
        self._rng = np.random.default_rng(seed)
        self._columns: list[str] = []

    def add(self, chunk: pd.DataFrame) -> None:
        ts = chunk[self._cfg.columns.timestamp]
        self._columns = list(chunk.columns)
        current = _rows_between(chunk, ts, self._start, self._end)
        if len(current):
            self._add_current(current)
        for key, (s, e) in self._earlier.items():
            rows = _rows_between(chunk, ts, s, e)
            if len(rows):
                self._parts[key].add(self._cfg, rows, self._labels)

    def _add_current(self, rows: pd.DataFrame) -> None:
        """Sketch the columns in worker threads (numpy sorts without the GIL) while GX validates."""
        cfg = self._cfg
        if self._validator is None:
            self._validator = BatchValidator(cfg, self._profile)
        sketching = [_pool().submit(sketch.add, rows[name]) for name, (_, sketch) in self._sketches.items()]
        try:
            self._validator.add(rows)
            self._window.add(cfg, rows, self._labels)
            self._ids.add(rows)
            self._keep_sample(rows)
        finally:
            for job in sketching:
                job.result()

    def _keep_sample(self, rows: pd.DataFrame) -> None:
        """The rows with the smallest seeded random keys: a uniform sample, whatever the chunking."""
        keys = self._rng.random(len(rows))
        pick = np.arange(len(rows))
        if len(rows) > self._sample_rows:
            pick = np.argpartition(keys, self._sample_rows)[: self._sample_rows]
        keyed = rows.iloc[pick][self._cfg.columns.features].assign(_key=keys[pick])
        both = keyed if self._sample is None else pd.concat([self._sample, keyed], ignore_index=True)
        self._sample = both.nsmallest(self._sample_rows, "_key") if len(both) > self._sample_rows else both

    def finish(self) -> ScanResult:
        columns = self._columns or kpi_columns(self._cfg)
        window = self._window.finish(columns)
        validation = None
        if self._validator is not None:
            validation = self._validator.finish(self._ids.frame())
        sample = pd.DataFrame(columns=self._cfg.columns.features)
        if self._sample is not None:
            sample = self._sample.sort_values("_key").drop(columns="_key").reset_index(drop=True)
        earlier = {key: part.finish(columns) for key, part in self._parts.items()}
        return ScanResult(window, validation, self._sketches, sample, earlier)
