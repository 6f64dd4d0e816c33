"""One pass over a window's predictions, chunk by chunk, collecting everything the run decides on.

The monitoring run never holds a window's features whole: each chunk is validated (GX, counts merged),
sketched for drift, sampled for the report, and reduced to the few columns KPIs need (id, prediction,
probabilities, model version, segments, label) plus the rows that could make the failure log. Earlier
windows that label catch-up still owes get the same reduction, without validation or drift.

What a chunk comes to is a ``ScanPart``, and the window's scan is the merge of its chunks' parts in reading
order; nothing in a part depends on how the rows were cut into chunks (sketches sum exactly, the sample is
keyed by a hash of each row's id, failure candidates are cut to the window's worst at the end). So chunks
scanned apart, by the workers of a cluster, merge into the very result of one process reading them in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from driftwarden.checks.drift import Role
from driftwarden.checks.drift.multivariate import ReconstructionSum
from driftwarden.checks.drift.segments import SegmentSketches, segment_sketches
from driftwarden.checks.estimation import Tally
from driftwarden.checks.failures import failure_candidates
from driftwarden.checks.profile import ReferenceProfile
from driftwarden.checks.reference_models import ReferenceModels
from driftwarden.checks.sketch import Sketch, new_sketch
from driftwarden.checks.validation import NON_NUMERIC, BatchValidator, ValidationPart, ValidationResult
from driftwarden.config.model import ModelConfig

SKETCH_THREADS = 2


LABEL_ARRIVED = "_label_arrived_at"
"""The column of a labels frame that holds each label's arrival time (see ``label_rows``)."""


def attach_labels(cfg: ModelConfig, predictions: pd.DataFrame, labels: pd.DataFrame | None) -> pd.DataFrame:
    """Predictions that have a label, with the label in the target column (``labels`` None: the target
    came with the predictions)."""
    return label_rows(cfg, predictions, labels)[0]


def label_rows(
    cfg: ModelConfig, predictions: pd.DataFrame, labels: pd.DataFrame | None, predicted_at: pd.Series | None = None
) -> tuple[pd.DataFrame, int]:
    """``attach_labels``, and how many of the labels joined arrived before their prediction was made (by
    ``predicted_at``, the predictions' times, and the labels' ``LABEL_ARRIVED`` column; 0 without either).

    Such a label is a clock fault or a leak (the label was known when the model predicted). It is still used
    for the KPIs, and counted so that the run says so: dropping it would hide a clock fault's labels from the
    KPIs for good, while a leak shows in the count whichever way it is used."""
    c = cfg.columns
    if labels is None or cfg.sources.labels is None:
        return predictions[predictions[c.target].notna()].reset_index(drop=True), 0
    timed = predicted_at is not None and LABEL_ARRIVED in labels
    left = (
        predictions.assign(_predicted_at=predicted_at.to_numpy()) if timed and predicted_at is not None else predictions
    )
    joined = left.merge(labels, on=c.id, how="inner")
    joined = joined[joined[c.target].notna()]
    early = int((joined[LABEL_ARRIVED] < joined["_predicted_at"]).sum()) if timed else 0
    joined = joined.drop(columns=[LABEL_ARRIVED, "_predicted_at"], errors="ignore")
    return joined.reset_index(drop=True), early


def kpi_columns(cfg: ModelConfig) -> list[str]:
    """What KPIs and the failure log need of every row: id, prediction, probabilities, version, segments."""
    c = cfg.columns
    cols = [c.id, c.prediction, *([c.probability] if c.probability else []), *c.probabilities.values()]
    cols += [*([c.model_version] if c.model_version else []), *cfg.segments]
    if cfg.sources.labels is None:
        cols.append(c.target)
    return list(dict.fromkeys(cols))


def read_ranges(
    start: pd.Timestamp, end: pd.Timestamp, earlier: Sequence[tuple[pd.Timestamp, pd.Timestamp]] = ()
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The time ranges a window's scan reads, oldest first: the window and the earlier windows label catch-up
    re-scores, adjacent ones joined. What lies between (a window that failed, one already final) is not read:
    a bad row there is its own window's failure, not every later window's."""
    spans = sorted([*earlier, (start, end)])
    out: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for s, e in spans:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


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
    """Labelled rows with every column read: the worst ``failures.max_per_run`` of each failure reason."""
    early_labels: int = 0
    """Labels joined that arrived before their prediction was made (see ``label_rows``)."""


@dataclass(frozen=True)
class ScanResult:
    window: WindowPart
    validation: ValidationResult | None
    """None when the window had no rows."""
    sketches: dict[str, tuple[Role, Sketch]]
    sample: pd.DataFrame
    """A seeded uniform sample of the window's features (for the Evidently report): the rows whose ids hash
    lowest (see ``sample_keys``)."""
    earlier: dict[pd.Timestamp, WindowPart]
    """Earlier windows that label catch-up re-scores, by window start."""
    estimation: Tally | None = None
    """The window's rows summed for its estimated KPIs (None: nothing to estimate)."""
    reconstruction: ReconstructionSum | None = None
    """The window's reconstruction errors summed for its multivariate drift (None: not measured)."""
    segments: dict[str, SegmentSketches] = field(default_factory=dict)
    """Per segment column, the features' sketches per profiled value (empty: no segments profiled)."""


@dataclass
class _Columns:
    """Rows gathered chunk by chunk as one array list per column; ``frame`` joins them a column at a time,
    letting each column's pieces go before the next, so that the window's rows are never held twice."""

    names: list[str]
    pieces: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, frame: pd.DataFrame) -> None:
        for col in self.names:
            self.pieces.setdefault(col, []).append(frame[col].to_numpy())

    def merge(self, other: _Columns) -> None:
        for col in self.names:
            self.pieces.setdefault(col, []).extend(other.pieces.get(col, []))

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
    early_labels: int = 0

    def __post_init__(self) -> None:
        self.labelled = _Columns(self.columns)

    def add(
        self, cfg: ModelConfig, rows: pd.DataFrame, labels: pd.DataFrame | None, values: pd.DataFrame | None = None
    ) -> None:
        """Label the chunk's rows (joined on the KPI columns, and the estimator's ``values`` of each row, only)
        and keep its failure candidates whole."""
        self.rows += len(rows)
        target = cfg.columns.target
        slim = rows[kpi_columns(cfg)].assign(_row=np.arange(len(rows)))
        if values is not None:
            slim = pd.concat([slim, values.set_axis(slim.index)], axis=1)
        slim, early = label_rows(cfg, slim, labels, rows[cfg.columns.timestamp])
        self.early_labels += early
        picked = failure_candidates(slim, cfg)
        whole = rows.iloc[picked["_row"].to_numpy()].reset_index(drop=True)
        whole[target] = picked[target].to_numpy()
        self.candidates.append(whole)
        self.labelled.add(slim)

    def merge(self, other: _Part) -> None:
        self.rows += other.rows
        self.early_labels += other.early_labels
        self.labelled.merge(other.labelled)
        self.candidates.extend(other.candidates)

    def finish(self, cfg: ModelConfig, columns: list[str]) -> WindowPart:
        """The rows as a window part; the chunks' failure candidates cut to the window's worst (the same rows
        whatever the chunking: each chunk's worst hold the window's worst)."""
        candidates = _concat(self.candidates, columns)
        if len(candidates):
            candidates = failure_candidates(candidates, cfg).reset_index(drop=True)
        return WindowPart(self.rows, self.labelled.frame(), candidates, self.early_labels)


@cache
def _pool() -> ThreadPoolExecutor:
    """The same worker threads for every chunk and window: new threads would each take a malloc arena of
    their own, and memory freed in one arena is not reused by another (hundreds of MB over a long window)."""
    return ThreadPoolExecutor(max_workers=SKETCH_THREADS, thread_name_prefix="driftwarden-sketch")


def _rows_between(chunk: pd.DataFrame, ts: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    inside = ((ts >= start) & (ts < end)).to_numpy()
    if inside.all():
        return chunk
    rows = chunk[inside].reset_index(drop=True)
    texts = chunk.attrs.get(NON_NUMERIC)
    if texts:  # one entry a row: the rows kept keep theirs
        rows.attrs = {**chunk.attrs, NON_NUMERIC: {col: held[inside] for col, held in texts.items()}}
    return rows


def _concat(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)


def sample_keys(ids: pd.Series, seed: int) -> np.ndarray:
    """A uniform key in [0, 1) for each row from a seeded hash of its id: the rows with the smallest keys are a
    uniform sample of the window's (distinct) ids, the same however the window is chunked or where each
    chunk is read. Ids that repeat across windows (customers) are mixed with the window's seed."""
    hashed = pd.util.hash_pandas_object(ids, index=False, categorize=False).to_numpy()
    mixed = _splitmix(hashed ^ _splitmix(np.array([seed], dtype=np.uint64)))
    return (mixed >> np.uint64(11)).astype(float) / float(1 << 53)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: every input bit reaches every output bit (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass
class ScanPart:
    """What some consecutive rows of the pass come to (one chunk, or chunks merged): plain data, mergeable in
    reading order; a worker of a cluster sends one back."""

    sample_rows: int
    window: _Part
    earlier: dict[pd.Timestamp, _Part]
    sketches: dict[str, Sketch]
    ids: _Columns
    """Every row's id, for the window-wide presence and uniqueness checks."""
    validation: ValidationPart | None = None
    """None while no row of the window was seen."""
    sample: pd.DataFrame | None = None
    """At most ``sample_rows`` rows of features with their ``_key``: the smallest keys seen."""
    columns: list[str] = field(default_factory=list)
    """The columns of the chunks read."""
    estimation: Tally | None = None
    reconstruction: ReconstructionSum | None = None
    segments: dict[str, SegmentSketches] = field(default_factory=dict)

    def merge(self, other: ScanPart) -> None:
        """Add the part of the rows read right after these."""
        self.window.merge(other.window)
        for name in ("estimation", "reconstruction"):
            theirs = getattr(other, name)
            if theirs is not None:
                mine = getattr(self, name)
                if mine is None:
                    setattr(self, name, theirs)
                else:
                    mine.merge(theirs)
        for key, part in other.earlier.items():
            self.earlier[key].merge(part)
        for name, sketch in other.sketches.items():
            self.sketches[name].merge(sketch)
        for name, seg in other.segments.items():
            self.segments[name].merge(seg)
        self.ids.merge(other.ids)
        if other.validation is not None:
            if self.validation is None:
                self.validation = ValidationPart()
            self.validation.merge(other.validation)
        self.sample = _smallest_keys(self.sample, other.sample, self.sample_rows)
        self.columns = other.columns or self.columns

    def detached(self) -> ScanPart:
        """This part with its sketches' edges left out (``merge`` does not read them): what travels."""
        sketches = {name: sketch.detached() for name, sketch in self.sketches.items()}
        segments = {name: seg.detached() for name, seg in self.segments.items()}
        return ScanPart(
            self.sample_rows, self.window, self.earlier, sketches, self.ids, self.validation, self.sample, self.columns,
            self.estimation, self.reconstruction, segments,
        )  # fmt: skip


def _smallest_keys(a: pd.DataFrame | None, b: pd.DataFrame | None, n: int) -> pd.DataFrame | None:
    if a is None or b is None:
        return b if a is None else a
    both = pd.concat([a, b], ignore_index=True)
    return both.nsmallest(n, "_key") if len(both) > n else both


class WindowScan:
    """``add`` the chunks of [horizon start, window end) in time order, then ``finish``. Chunks scanned
    elsewhere come in as parts: ``scan`` a chunk there and ``merge`` the part here, in reading order.

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
        models: ReferenceModels | None = None,
    ):
        self._cfg, self._profile, self._labels = cfg, profile, labels
        self._models = models or ReferenceModels()
        self._estimator = self._models.usable_estimator
        self._pca = self._models.usable_pca
        self._start, self._end = start, end
        self._earlier = {s: (s, e) for s, e in earlier}
        values = list(self._estimator.value_columns) if self._estimator is not None else []
        self._slim = list(dict.fromkeys([*kpi_columns(cfg), cfg.columns.target, *values]))
        self._validator: BatchValidator | None = None
        self._roles: dict[str, Role] = {}
        self._blank: dict[str, Sketch] = {}
        for name, role in drift_columns(cfg, profile):
            self._roles[name] = role
            self._blank[name] = new_sketch(profile.numeric.get(name) or profile.categorical[name])
        features = [name for name, role in self._roles.items() if role == "feature"]
        self._segments = segment_sketches(profile, cfg.segments, features)
        self._sample_rows = sample_rows
        self._seed = int(
            _splitmix(np.array([seed ^ (start.value & 0xFFFFFFFFFFFFFFFF)], dtype=np.uint64))[0]
        )  # the window's own seed
        self._state = self.new_part()

    def new_part(self) -> ScanPart:
        """The part of no rows."""
        return ScanPart(
            self._sample_rows,
            _Part(self._slim),
            {s: _Part(self._slim) for s in self._earlier},
            {name: sketch.empty() for name, sketch in self._blank.items()},
            _Columns([self._cfg.columns.id]),
            segments={name: seg.empty() for name, seg in self._segments.items()},
        )

    def scan(self, chunk: pd.DataFrame) -> ScanPart:
        """What one chunk comes to (this scan's own state stays as it is)."""
        part = self.new_part()
        ts = chunk[self._cfg.columns.timestamp]
        part.columns = list(chunk.columns)
        current = _rows_between(chunk, ts, self._start, self._end)
        if len(current):
            self._scan_current(part, current)
        for key, (s, e) in self._earlier.items():
            rows = _rows_between(chunk, ts, s, e)
            if len(rows):
                part.earlier[key].add(self._cfg, rows, self._labels, self._values(rows))
        return part

    def _values(self, rows: pd.DataFrame) -> pd.DataFrame | None:
        return self._estimator.row_values(rows) if self._estimator is not None else None

    def add(self, chunk: pd.DataFrame) -> None:
        self.merge(self.scan(chunk))

    def merge(self, part: ScanPart) -> None:
        """Add the part of the rows read right after those added so far."""
        self._state.merge(part)

    def _scan_current(self, part: ScanPart, rows: pd.DataFrame) -> None:
        """Sketch the columns in worker threads (numpy sorts without the GIL) while GX validates."""
        cfg = self._cfg
        if self._validator is None:
            self._validator = BatchValidator(cfg, self._profile)
        sketching = [_pool().submit(sketch.add, rows[name]) for name, sketch in part.sketches.items()]
        sketching += [_pool().submit(seg.add, rows, name) for name, seg in part.segments.items()]
        try:
            part.validation = self._validator.part(rows)
            values = self._values(rows)
            if self._estimator is not None and values is not None:
                part.estimation = self._estimator.tally(values)
            if self._pca is not None:
                part.reconstruction = ReconstructionSum()
                part.reconstruction.add(self._pca, rows)
            part.window.add(cfg, rows, self._labels, values)
            part.ids.add(rows)
            part.sample = self._sample_of(rows)
        finally:
            for job in sketching:
                job.result()

    def _sample_of(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The chunk's rows with the smallest keys (see ``sample_keys``)."""
        keys = sample_keys(rows[self._cfg.columns.id], self._seed)
        pick = np.arange(len(rows))
        if len(rows) > self._sample_rows:
            pick = np.sort(np.argpartition(keys, self._sample_rows)[: self._sample_rows])
        return rows.iloc[pick][self._cfg.columns.features].assign(_key=keys[pick]).reset_index(drop=True)

    def finish(self) -> ScanResult:
        state, cfg = self._state, self._cfg
        columns = state.columns or kpi_columns(cfg)
        window = state.window.finish(cfg, columns)
        validation = None
        if state.validation is not None:
            if self._validator is None:  # every chunk was validated elsewhere
                self._validator = BatchValidator(cfg, self._profile)
            self._validator.merge(state.validation)
            validation = self._validator.finish(state.ids.frame())
        sample = pd.DataFrame(columns=cfg.columns.features)
        if state.sample is not None:
            sample = state.sample.sort_values("_key", kind="stable").drop(columns="_key").reset_index(drop=True)
        earlier = {key: part.finish(cfg, columns) for key, part in state.earlier.items()}
        sketches = {name: (self._roles[name], sketch) for name, sketch in state.sketches.items()}
        estimation = state.estimation
        if estimation is None and self._models.estimator is not None:
            estimation = Tally()  # nothing estimable or no rows: the estimates say why
        reconstruction = state.reconstruction
        if reconstruction is None and self._pca is not None:
            reconstruction = ReconstructionSum()
        return ScanResult(window, validation, sketches, sample, earlier, estimation, reconstruction, state.segments)
