"""Read a window of predictions, the labels known so far, and the reference, from CSV or Parquet files.

Paths may be globs. Only the configured columns are read (projection); Parquet applies the time filter
inside the reader (pushdown). Predictions stream in chunks (``scan_predictions``), so that a window never
has to fit in memory whole. Labels are read by their arrival-time range, never by lists of ids.
"""

from __future__ import annotations

import glob
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from driftwarden.config.model import ModelConfig, SourceConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows.errors import SourceError
from driftwarden.flows.sources import duckdb_files as duckdb_source
from driftwarden.flows.sources.sql_table import read_table, table_columns, table_fingerprint

log = logging.getLogger(__name__)


def _files(cfg: ModelConfig, src: SourceConfig, what: str) -> tuple[list[str], str]:
    pattern = cfg.resolve(src.path or "")
    files = sorted(glob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
    files = [f for f in files if Path(f).is_file()]
    if not files:
        raise SourceError(f"sources.{what}: no file matches {pattern}")
    fmt = src.format
    if fmt == "auto":
        suffixes = {Path(f).suffixes[-1].lower() if Path(f).suffixes else "" for f in files}
        if suffixes <= {".parquet", ".pq"}:
            fmt = "parquet"
        elif suffixes <= {".csv"} or all(f.endswith((".csv.gz", ".csv")) for f in files):
            fmt = "csv"
        else:
            raise SourceError(f"sources.{what}: cannot tell the format of {pattern}; set format: csv|parquet")
    return files, fmt


def _read(
    cfg: ModelConfig,
    src: SourceConfig,
    what: str,
    columns: list[str],
    time_col: str | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> pd.DataFrame:
    """Rows of ``columns`` whose ``time_col`` lies in [start, end) (both tz-aware), all in one frame."""
    chunks = list(_chunks(cfg, src, what, columns, time_col, start, end))
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def _chunks(
    cfg: ModelConfig,
    src: SourceConfig,
    what: str,
    columns: list[str],
    time_col: str | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    chunk_rows: int | None = None,
) -> Iterator[pd.DataFrame]:
    """Rows of ``columns`` whose ``time_col`` lies in [start, end), from every file or from a database
    table, in chunks of at most ``chunk_rows`` rows (the setting by default); at least one, maybe empty."""
    columns = list(dict.fromkeys(columns))
    tz = cfg.window.timezone
    size = chunk_rows or get_settings().chunk_rows
    if src.url is not None:
        files = [cfg.describe(src)]
        raw = read_table(src, what, columns, time_col, start, end, tz, size)
    elif src.reader == "duckdb":
        files = [cfg.resolve(src.path or "")]
        raw = duckdb_source.read_files(cfg, src, what, columns, time_col, start, end, tz, size)
    else:
        files, fmt = _files(cfg, src, what)
        if fmt == "parquet":
            raw = _read_parquet(files, what, columns, time_col, start, end, tz, size)
        else:
            raw = _read_csv(files, what, columns, size)
    empty = True
    for frame in raw:
        if time_col is not None:
            frame[time_col] = _as_local_time(frame[time_col], tz, what, time_col, files)
            if start is not None and end is not None:
                inside = ((frame[time_col] >= start) & (frame[time_col] < end)).to_numpy()
                frame = frame if inside.all() else frame[inside].reset_index(drop=True)
        if len(frame) or empty:
            empty = False
            yield frame
        del frame  # before the next chunk is read: never two chunks at once


def _read_parquet(
    files: list[str],
    what: str,
    columns: list[str],
    time_col: str | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    tz: str,
    chunk_rows: int,
) -> Iterator[pd.DataFrame]:
    schema = _common_schema(files, what, columns)
    try:
        dataset = ds.dataset(files, format="parquet", schema=schema)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"sources.{what}: cannot read {files[0]}: {exc}") from exc
    flt = None
    if time_col and start is not None and end is not None:
        ftype = dataset.schema.field(time_col).type
        if pa.types.is_timestamp(ftype):
            # Naive stored times are local times: compare them with the local wall-clock bounds.
            lo, hi = (start, end) if ftype.tz else (_wall(start, tz), _wall(end, tz))
            flt = (ds.field(time_col) >= pa.scalar(lo, ftype)) & (ds.field(time_col) < pa.scalar(hi, ftype))
    pending: list[pa.RecordBatch] = []
    rows = 0
    # One row group at a time (files and row groups whose statistics rule the window out are skipped), its
    # pages decoded as they are read: Arrow holds about a row group, however far ahead a scanner would read.
    options = ds.ParquetFragmentScanOptions(pre_buffer=False)
    try:
        for fragment in dataset.get_fragments(filter=flt):
            for group in fragment.split_by_row_group(filter=flt):
                for batch in group.to_batches(
                    schema=dataset.schema,
                    columns=columns,
                    filter=flt,
                    batch_size=min(chunk_rows, 100_000),
                    batch_readahead=0,
                    fragment_scan_options=options,
                ):
                    pending.append(batch)
                    rows += batch.num_rows
                    if rows >= chunk_rows:
                        frame = _to_pandas(pending, dataset.schema, columns)  # empties ``pending``
                        rows = 0
                        yield frame
                        del frame
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"sources.{what}: cannot read {files}: {exc}") from exc
    yield _to_pandas(pending, dataset.schema, columns)


def _common_schema(files: list[str], what: str, columns: list[str]) -> pa.Schema:
    """The configured columns' schema, the same in every file: a file without a column (it would read as
    nulls) or with another type for it (text where numbers were) is named with the column."""
    first: pa.Schema | None = None
    for f in files:
        try:
            schema = pq.read_schema(f)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"sources.{what}: cannot read {f}: {exc}") from exc
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise SourceError(f"sources.{what}: {f} has no column(s) {missing}")
        if first is None:
            first = schema
            continue
        for col in columns:
            a, b = first.field(col).type, schema.field(col).type
            if a == b:
                continue
            if not (_numeric(a) and _numeric(b)):
                raise SourceError(f"sources.{what}: column {col!r} is {b} in {f} but {a} in {files[0]}")
            first = first.set(first.get_field_index(col), pa.field(col, pa.float64()))  # ints and floats: floats
    assert first is not None
    return first


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


def _to_pandas(batches: list[pa.RecordBatch], schema: pa.Schema, columns: list[str]) -> pd.DataFrame:
    """One frame of the batches, which are let go as they are converted (the list is emptied)."""
    if not batches:
        return schema.empty_table().select(columns).to_pandas()
    table = pa.Table.from_batches(batches)
    batches.clear()
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _wall(t: pd.Timestamp, tz: str) -> pd.Timestamp:
    return t.tz_convert(tz).tz_localize(None)


def _read_csv(files: list[str], what: str, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    for f in files:
        try:
            head = pd.read_csv(f, nrows=0).columns
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise SourceError(f"sources.{what}: cannot read {f}: {exc}") from exc
        missing = [c for c in columns if c not in head]
        if missing:
            raise SourceError(f"sources.{what}: {f} has no column(s) {missing}")
        try:
            yield from pd.read_csv(f, usecols=columns, chunksize=chunk_rows)
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
            raise SourceError(f"sources.{what}: cannot read {f}: {exc}") from exc


def _parse_times(values: pd.Series, utc: bool = False) -> pd.Series:
    """ISO 8601 text whatever its precision (pandas would guess one format from the first row and refuse
    '00:00:43.2' after '00:00:00'), else pandas' own inference."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=utc) if utc else values
    try:
        return pd.to_datetime(values, format="ISO8601", utc=utc)
    except (ValueError, TypeError):
        return pd.to_datetime(values, utc=utc)


def _as_local_time(values: pd.Series, tz: str, what: str, col: str, files: list[str]) -> pd.Series:
    """Timestamps in the model's zone. Naive ones are local times; ones with offsets may mix offsets
    (a file spanning a DST change). The repeated hour when clocks go back is told apart by row order."""
    where = f"sources.{what}: column {col!r} in {files[0]}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            parsed = _parse_times(values)
            if not pd.api.types.is_datetime64_any_dtype(parsed):  # mixed UTC offsets
                parsed = _parse_times(values, utc=True)
    except (ValueError, TypeError) as exc:
        raise SourceError(f"{where} is not a timestamp: {exc}") from exc
    if parsed.dt.tz is not None:
        return parsed.dt.tz_convert(tz)
    try:
        return parsed.dt.tz_localize(tz, nonexistent="shift_forward", ambiguous="infer")
    except Exception as exc:  # pytz's AmbiguousTimeError: e.g. a lone row in the repeated hour
        log.warning(
            "%s: local times in the repeated hour of a DST change cannot be told apart (%s); read as the first "
            "occurrence (store timestamps in UTC or with their offset to avoid this)", where, exc,
        )  # fmt: skip
        return parsed.dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=True)


def check_dtypes(frame: pd.DataFrame, cfg: ModelConfig, what: str, numeric: list[str]) -> pd.DataFrame:
    """Numeric columns must hold numbers: a text value in one is a broken schema, named with an example."""
    for col in numeric:
        if col not in frame.columns or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        coerced = pd.to_numeric(frame[col], errors="coerce")
        bad = frame[col][coerced.isna() & frame[col].notna()]
        if len(bad):
            raise SourceError(
                f"sources.{what}: column {col!r} should be numeric but holds {bad.iloc[0]!r} "
                f"({len(bad)} non-numeric values) in {cfg.describe(getattr(cfg.sources, what))}"
            )
        frame[col] = coerced
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


def scan_predictions(
    cfg: ModelConfig, start: pd.Timestamp, end: pd.Timestamp, chunk_rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """Predictions with timestamp in [start, end), only the configured columns, in time-ordered chunks of
    at most ``chunk_rows`` rows (``DRIFTWARDEN_CHUNK_ROWS``); a window never has to fit in memory whole."""
    cols = prediction_columns(cfg)
    for chunk in _chunks(
        cfg, cfg.sources.predictions, "predictions", cols, cfg.columns.timestamp, start, end, chunk_rows
    ):
        yield check_dtypes(chunk, cfg, "predictions", _numeric_columns(cfg))
        del chunk


def read_labels(cfg: ModelConfig, arrived_from: pd.Timestamp, arrived_until: pd.Timestamp) -> pd.DataFrame:
    """(id, target, arrival time) of labels that arrived in [arrived_from, arrived_until); latest per id."""
    src = cfg.sources.labels
    c = cfg.columns
    if src is None:
        return pd.DataFrame(columns=[c.id, c.target])
    frame = _read(cfg, src, "labels", [c.id, c.target, src.arrived_at], src.arrived_at, arrived_from, arrived_until)
    if cfg.task == "regression":
        frame = check_dtypes(frame, cfg, "labels", [c.target])
    frame = frame.sort_values(src.arrived_at).drop_duplicates(c.id, keep="last")
    return frame[[c.id, c.target]]


def label_sample(cfg: ModelConfig, rows: int = 10_000) -> pd.Series:
    """Up to ``rows`` target values from the start of the labels source (``validate`` checks their classes)."""
    src = cfg.sources.labels
    if src is None:
        raise SourceError("sources.labels is not configured")
    chunks = _chunks(cfg, src, "labels", [cfg.columns.target], None, None, None, rows)
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
    optional = [c.target, *([c.id, c.timestamp] if keys else [])]
    present = source_columns(cfg, cfg.sources.reference, "reference")
    cols += [col for col in optional if col in present]
    for chunk in _chunks(cfg, cfg.sources.reference, "reference", cols, None, None, None):
        yield check_dtypes(chunk, cfg, "reference", numeric)
        del chunk


def source_columns(cfg: ModelConfig, src: SourceConfig, what: str) -> set[str]:
    """The columns a source has (its first file's, or its table's)."""
    if src.url is not None:
        return set(table_columns(src, what))
    if src.reader == "duckdb":
        return set(duckdb_source.columns_of(cfg, src, what))
    files, fmt = _files(cfg, src, what)
    try:
        if fmt == "parquet":
            return set(pq.read_schema(files[0]).names)
        return set(pd.read_csv(files[0], nrows=0).columns)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SourceError(f"sources.{what}: cannot read {files[0]}: {exc}") from exc


def promoted_reference(cfg: ModelConfig) -> tuple[Any, int] | None:
    """After a promotion the reference is the champion's out-of-sample holdout, kept in the registry:
    (the registry, the champion's version); None while the configured reference source is in force."""
    from driftwarden.flows.registry.versions import Registry

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
    if cfg.sources.reference.url is not None:
        return table_fingerprint(cfg.sources.reference)
    if cfg.sources.reference.reader == "duckdb":
        return duckdb_source.fingerprint(cfg, cfg.sources.reference, "reference")
    files, fmt = _files(cfg, cfg.sources.reference, "reference")
    parts = [fmt] + [f"{f}:{Path(f).stat().st_size}:{Path(f).stat().st_mtime_ns}" for f in files]
    return "|".join(parts)


def read_features(cfg: ModelConfig, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Batch scoring: the rows to score with timestamp in [start, end) (timestamp, id, features, segments)."""
    src = cfg.sources.features
    if src is None:
        raise SourceError("sources.features is not configured: batch scoring has nothing to read")
    c = cfg.columns
    cols = list(dict.fromkeys([c.timestamp, c.id, *c.features, *cfg.segments]))
    frame = _read(cfg, src, "features", cols, c.timestamp, start, end)
    return check_dtypes(frame, cfg, "features", list(c.numerical))
