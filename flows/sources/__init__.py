"""Read a window of predictions, the labels known so far, and the reference, from any registered kind of
source (``base.READERS``: CSV or Parquet files, DuckDB over globs and object stores, database tables).

Only the configured columns are read (projection); readers that can push the window's time range into the
scan do. Predictions stream in chunks (``scan_predictions``), so that a window never has to fit in memory
whole; ``plan_chunks`` cuts the same read into pieces (``ChunkSpec``) that other processes, the workers of a
cluster, read on their own (``read_chunk``), in the same order. Labels are read by their arrival-time range,
never by lists of ids. What is the same for every kind lives here: timestamps as local times of the model's
zone, the exact [start, end) filter, numeric checks.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pandas as pd

from driftwarden.checks.scan import LABEL_ARRIVED
from driftwarden.checks.validation import NON_NUMERIC
from driftwarden.config.model import ModelConfig, SourceConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows.errors import SourceError
from driftwarden.flows.registry.versions import Registry

# The reader modules register themselves on import: every kind is known once this package is.
from driftwarden.flows.sources import arrow_files, duckdb_files, sql_table  # noqa: F401
from driftwarden.flows.sources.base import ChunkSpec, ReadRequest, part_reader, reader_for

log = logging.getLogger(__name__)


def _request(
    cfg: ModelConfig,
    what: str,
    columns: list[str],
    time_col: str | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    chunk_rows: int | None = None,
    order: tuple[str, ...] = (),
    numeric: tuple[str, ...] = (),
) -> ReadRequest:
    return ReadRequest(
        what, list(dict.fromkeys(columns)), time_col, start, end, cfg.window.timezone,
        chunk_rows or get_settings().chunk_rows, order, numeric,
    )  # fmt: skip


def _read(cfg: ModelConfig, src: SourceConfig, req: ReadRequest) -> pd.DataFrame:
    """The rows of the request, all in one frame."""
    chunks = list(_chunks(cfg, src, req))
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def _chunks(
    cfg: ModelConfig, src: SourceConfig, req: ReadRequest, part: Any = None
) -> Generator[pd.DataFrame, None, None]:
    """The rows of the request (or of one ``part`` of it, see ``plan_chunks``) from the source's reader, in
    chunks of at most ``req.chunk_rows`` rows; at least one, maybe empty."""
    reader = reader_for(src)

    def location() -> str:  # only a message needs it (for files it is a glob again)
        return reader.location(cfg, src, req.what)

    cutter = part_reader(src) if part is not None else None
    frames = cutter.read_part(cfg, src, req, part) if cutter is not None else reader.chunks(cfg, src, req)
    empty = True
    for frame in frames:
        if req.time_col is not None:
            frame[req.time_col] = _as_local_time(frame[req.time_col], req.tz, req.what, req.time_col, location)
            if req.start is not None and req.end is not None:
                inside = ((frame[req.time_col] >= req.start) & (frame[req.time_col] < req.end)).to_numpy()
                frame = frame if inside.all() else frame[inside].reset_index(drop=True)
        if len(frame) or empty:
            empty = False
            yield frame
        del frame  # before the next chunk is read: never two chunks at once


def _parse_times(values: pd.Series, utc: bool = False) -> pd.Series:
    """ISO 8601 text whatever its precision (pandas would guess one format from the first row and refuse
    '00:00:43.2' after '00:00:00'), else pandas' own inference."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=utc) if utc else values
    try:
        return pd.to_datetime(values, format="ISO8601", utc=utc)
    except (ValueError, TypeError):
        return pd.to_datetime(values, utc=utc)


def _as_local_time(values: pd.Series, tz: str, what: str, col: str, location: Callable[[], str]) -> pd.Series:
    """Timestamps in the model's zone. Naive ones are local times; ones with offsets may mix offsets
    (a file spanning a DST change). The repeated hour when clocks go back is told apart by row order."""

    def where() -> str:
        return f"sources.{what}: column {col!r} in {location()}"

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            zoned = _zoned_text(values)
            if zoned is not None and zoned.any() and not zoned[values.notna()].all():
                return _naive_and_zoned(values, zoned, tz, where)
            parsed = _parse_times(values)
            if not pd.api.types.is_datetime64_any_dtype(parsed):  # mixed UTC offsets
                parsed = _parse_times(values, utc=True)
    except (ValueError, TypeError) as exc:
        raise SourceError(f"{where()} is not a timestamp: {exc}") from exc
    if parsed.dt.tz is not None:
        return parsed.dt.tz_convert(tz)
    return _localized(parsed, tz, where)


_OFFSET = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
"""The end of a time of day with its offset: 21:40:00+00:00, 21:40Z, 21:40:00.5-0530."""


def _zoned_text(values: pd.Series) -> pd.Series | None:
    """For text times, which carry an offset (None: not text)."""
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return None
    return values.astype("string").str.strip().str.contains(_OFFSET, regex=True, na=False).astype(bool)


def _naive_and_zoned(values: pd.Series, zoned: pd.Series, tz: str, where: Callable[[], str]) -> pd.Series:
    """Naive and zoned times in one column each keep their meaning: a naive one a wall time of ``tz``, one
    with an offset that instant (pandas would read the naive ones after a zoned one as UTC: a Berlin 23:30
    would land in the next night's window)."""
    out = pd.Series(pd.NaT, index=values.index, dtype=f"datetime64[ns, {tz}]")
    out[zoned] = _parse_times(values[zoned], utc=True).dt.tz_convert(tz)
    out[~zoned] = _localized(_parse_times(values[~zoned]), tz, where)
    return out


def _localized(parsed: pd.Series, tz: str, where: Callable[[], str]) -> pd.Series:
    try:
        return parsed.dt.tz_localize(tz, nonexistent="shift_forward", ambiguous="infer")
    except Exception as exc:  # pytz's AmbiguousTimeError: e.g. a lone row in the repeated hour
        log.warning(
            "%s: local times in the repeated hour of a DST change cannot be told apart (%s); read as the first "
            "occurrence (store timestamps in UTC or with their offset to avoid this)", where(), exc,
        )  # fmt: skip
        return parsed.dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=True)


def check_dtypes(
    frame: pd.DataFrame, cfg: ModelConfig, what: str, numeric: list[str], rows_judged: bool = False
) -> pd.DataFrame:
    """Numeric columns must hold numbers. A text value in one is a broken schema, named with an example; with
    ``rows_judged`` (a window's predictions, whose rows validation judges) the rows are kept, the text read as
    missing and left for validation's rule that the column holds numbers (``NON_NUMERIC``): a feed whose
    ages are 'forty' in a few rows is a data-quality breach of those rows, not a window without a verdict."""
    texts: dict[str, Any] = {}
    for col in numeric:
        if col not in frame.columns or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        coerced = pd.to_numeric(frame[col], errors="coerce")
        text = coerced.isna() & frame[col].notna()
        bad = frame[col][text]
        if len(bad) and rows_judged:
            texts[col] = frame[col].where(text, None).astype(object).to_numpy()
        elif len(bad):
            raise SourceError(
                f"sources.{what}: column {col!r} should be numeric but holds {bad.iloc[0]!r} "
                f"({len(bad)} non-numeric values) in {cfg.describe(getattr(cfg.sources, what))}"
            )
        frame[col] = coerced
    if texts:
        frame.attrs[NON_NUMERIC] = texts
    return frame


def prediction_columns(cfg: ModelConfig) -> list[str]:
    c = cfg.columns
    cols = [c.timestamp, c.id, *c.features, c.prediction, *cfg.segments]
    if c.model_version:
        cols.append(c.model_version)
    if c.probability:
        cols.append(c.probability)
    cols += list(c.probabilities.values())
    if cfg.sources.labels is None:
        cols.append(c.target)
    return list(dict.fromkeys(cols))


def _numeric_columns(cfg: ModelConfig) -> list[str]:
    c = cfg.columns
    out = [*c.numerical, *c.probabilities.values()]
    if c.probability:
        out.append(c.probability)
    if cfg.task == "regression":
        out += [c.prediction, c.target]
    return out


def read_predictions(cfg: ModelConfig, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Predictions with timestamp in [start, end), only the configured columns."""
    return pd.concat(scan_predictions(cfg, start, end), ignore_index=True)


def _predictions_request(
    cfg: ModelConfig, start: pd.Timestamp, end: pd.Timestamp, chunk_rows: int | None
) -> ReadRequest:
    c = cfg.columns
    return _request(
        cfg, "predictions", prediction_columns(cfg), c.timestamp, start, end, chunk_rows, (c.timestamp, c.id),
        tuple(_numeric_columns(cfg)),
    )  # fmt: skip


def scan_predictions(
    cfg: ModelConfig, start: pd.Timestamp, end: pd.Timestamp, chunk_rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """Predictions with timestamp in [start, end), only the configured columns, in time-ordered chunks of
    at most ``chunk_rows`` rows (``DRIFTWARDEN_CHUNK_ROWS``); a window never has to fit in memory whole."""
    req = _predictions_request(cfg, start, end, chunk_rows)
    for chunk in _chunks(cfg, cfg.sources.predictions, req):
        yield check_dtypes(chunk, cfg, "predictions", _numeric_columns(cfg), rows_judged=True)
        del chunk


def plan_chunks(
    cfg: ModelConfig, start: pd.Timestamp, end: pd.Timestamp, chunk_rows: int | None = None
) -> list[ChunkSpec]:
    """The predictions of [start, end) as pieces that any process can read on its own (``read_chunk``); read in
    turn, they give the rows of ``scan_predictions`` in the same order (in other chunks). At least one."""
    src = cfg.sources.predictions
    req = _predictions_request(cfg, start, end, chunk_rows)
    cutter = part_reader(src)
    parts = cutter.parts(cfg, src, req) if cutter is not None else [None]
    return [ChunkSpec(i, req, part) for i, part in enumerate(parts)]


def read_chunk(cfg: ModelConfig, spec: ChunkSpec) -> Iterator[pd.DataFrame]:
    """The rows of one planned piece, checked as ``scan_predictions`` checks them, in chunks of at most
    ``chunk_rows`` rows (a piece is about one chunk; a large row group, a CSV file or a time range may be
    more); at least one, maybe empty. Secrets the source needs come from this process's environment."""
    src = getattr(cfg.sources, spec.request.what)
    for chunk in _chunks(cfg, src, spec.request, spec.part):
        yield check_dtypes(chunk, cfg, spec.request.what, _numeric_columns(cfg), rows_judged=True)
        del chunk


def read_labels(cfg: ModelConfig, arrived_from: pd.Timestamp, arrived_until: pd.Timestamp) -> pd.DataFrame:
    """(id, target, arrival time as ``LABEL_ARRIVED``) of labels that arrived in [arrived_from, arrived_until);
    latest per id."""
    src = cfg.sources.labels
    c = cfg.columns
    if src is None:
        return pd.DataFrame(columns=[c.id, c.target])
    req = _request(cfg, "labels", [c.id, c.target, src.arrived_at], src.arrived_at, arrived_from, arrived_until)
    frame = _read(cfg, src, req)
    if cfg.task == "regression":
        frame = check_dtypes(frame, cfg, "labels", [c.target])
    frame = frame.sort_values(src.arrived_at).drop_duplicates(c.id, keep="last")
    # The arrival time goes along so that the scan can tell a label that came before its prediction.
    return frame[[c.id, c.target, src.arrived_at]].rename(columns={src.arrived_at: LABEL_ARRIVED})


def label_sample(cfg: ModelConfig, rows: int = 10_000) -> pd.Series:
    """Up to ``rows`` target values from the start of the labels source (``validate`` checks their classes)."""
    src = cfg.sources.labels
    if src is None:
        raise SourceError("sources.labels is not configured")
    chunks = _chunks(cfg, src, _request(cfg, "labels", [cfg.columns.target], chunk_rows=rows))
    try:
        return next(chunks)[cfg.columns.target]
    finally:
        chunks.close()


def read_reference(cfg: ModelConfig, keys: bool = False) -> pd.DataFrame:
    """The reference rows: features, prediction, probability, and the target when the file has it; with
    ``keys``, its id and timestamp columns too where it has them (retraining keeps holdout rows out by them)."""
    return pd.concat(scan_reference(cfg, keys), ignore_index=True)


def scan_reference(cfg: ModelConfig, keys: bool = False) -> Iterator[pd.DataFrame]:
    """The reference rows in chunks (at least one): features, prediction, probability, and the target (and
    with ``keys`` the id and timestamp) when the source has them; after a promotion, the champion's holdout
    from the registry."""
    c = cfg.columns
    numeric = _numeric_columns(cfg)
    promoted = promoted_reference(cfg)
    if promoted is not None:
        registry, number = promoted
        yield check_dtypes(registry.reference(number), cfg, "reference", numeric)
        return
    cols = [*c.features, c.prediction, *([c.probability] if c.probability else [])]
    optional = [c.target, *c.probabilities.values(), *cfg.segments, *([c.id, c.timestamp] if keys else [])]
    present = source_columns(cfg, cfg.sources.reference, "reference")
    cols += [col for col in optional if col in present]
    for chunk in _chunks(cfg, cfg.sources.reference, _request(cfg, "reference", cols)):
        yield check_dtypes(chunk, cfg, "reference", numeric)
        del chunk


def source_columns(cfg: ModelConfig, src: SourceConfig, what: str) -> set[str]:
    """The columns a source has (its first file's, or its table's)."""
    return reader_for(src).columns(cfg, src, what)


def promoted_reference(cfg: ModelConfig) -> tuple[Any, int] | None:
    """After a promotion the reference is the champion's out-of-sample holdout, kept in the registry:
    (the registry, the champion's version); None while the configured reference source is in force."""
    registry = Registry(cfg)
    version = registry.champion()
    seen: set[int] = set()
    while version is not None and not version.meta.get("has_reference") and version.number not in seen:
        seen.add(version.number)  # a champion whose holdout was too small: its parent's reference stays
        parent = version.meta.get("parent")
        version = registry.version(int(parent)) if parent is not None else None
    return None if version is None or not version.meta.get("has_reference") else (registry, version.number)


def source_fingerprint(cfg: ModelConfig) -> str:
    """Identity of the reference data: its files' names, sizes and modification times (or table and rows);
    after a promotion, the champion's registry reference."""
    promoted = promoted_reference(cfg)
    if promoted is not None:
        registry, number = promoted
        return f"registry:{cfg.name}:v{number}:{registry.version(number).meta['sha256']}"
    return reader_for(cfg.sources.reference).fingerprint(cfg, cfg.sources.reference, "reference")


def read_features(cfg: ModelConfig, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Batch scoring: the rows to score with timestamp in [start, end) (timestamp, id, features, segments)."""
    src = cfg.sources.features
    if src is None:
        raise SourceError("sources.features is not configured: batch scoring has nothing to read")
    c = cfg.columns
    cols = list(dict.fromkeys([c.timestamp, c.id, *c.features, *cfg.segments]))
    frame = _read(cfg, src, _request(cfg, "features", cols, c.timestamp, start, end))
    return check_dtypes(frame, cfg, "features", list(c.numerical))
