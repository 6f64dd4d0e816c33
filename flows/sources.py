"""Read a window of predictions, the labels known so far, and the reference, from CSV or Parquet files.

Paths may be globs. Only the configured columns are read (projection); Parquet applies the time filter
inside the reader (pushdown). Labels are read by their arrival-time range, never by lists of ids.
"""

from __future__ import annotations

import glob
import logging
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from config.model import ModelConfig, SourceConfig
from flows.errors import SourceError
from flows.sql_source import read_table, table_fingerprint

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
    """Rows of ``columns`` whose ``time_col`` lies in [start, end) (both tz-aware), from every file or from
    a database table."""
    columns = list(dict.fromkeys(columns))
    tz = cfg.window.timezone
    if src.url is not None:
        files = [cfg.describe(src)]
        frame = read_table(src, what, columns, time_col, start, end, tz)
    else:
        files, fmt = _files(cfg, src, what)
        if fmt == "parquet":
            frame = _read_parquet(files, what, columns, time_col, start, end, tz)
        else:
            frame = _read_csv(files, what, columns)
    if time_col is not None:
        frame[time_col] = _as_local_time(frame[time_col], tz, what, time_col, files)
        if start is not None and end is not None:
            frame = frame[(frame[time_col] >= start) & (frame[time_col] < end)]
    return frame.reset_index(drop=True)


def _read_parquet(
    files: list[str],
    what: str,
    columns: list[str],
    time_col: str | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    tz: str,
) -> pd.DataFrame:
    try:
        dataset = ds.dataset(files, format="parquet")
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"sources.{what}: cannot read {files[0]}: {exc}") from exc
    missing = [c for c in columns if c not in dataset.schema.names]
    if missing:
        raise SourceError(f"sources.{what}: {files[0]} has no column(s) {missing}")
    flt = None
    if time_col and start is not None and end is not None:
        ftype = dataset.schema.field(time_col).type
        if pa.types.is_timestamp(ftype):
            # Naive stored times are local times: compare them with the local wall-clock bounds.
            lo, hi = (start, end) if ftype.tz else (_wall(start, tz), _wall(end, tz))
            flt = (ds.field(time_col) >= pa.scalar(lo, ftype)) & (ds.field(time_col) < pa.scalar(hi, ftype))
    try:
        return dataset.to_table(columns=columns, filter=flt).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"sources.{what}: cannot read {files}: {exc}") from exc


def _wall(t: pd.Timestamp, tz: str) -> pd.Timestamp:
    return t.tz_convert(tz).tz_localize(None)


def _read_csv(files: list[str], what: str, columns: list[str]) -> pd.DataFrame:
    parts = []
    for f in files:
        try:
            head = pd.read_csv(f, nrows=0).columns
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise SourceError(f"sources.{what}: cannot read {f}: {exc}") from exc
        missing = [c for c in columns if c not in head]
        if missing:
            raise SourceError(f"sources.{what}: {f} has no column(s) {missing}")
        try:
            parts.append(pd.read_csv(f, usecols=columns))
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
            raise SourceError(f"sources.{what}: cannot read {f}: {exc}") from exc
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


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
    frame = _read(
        cfg,
        cfg.sources.predictions,
        "predictions",
        prediction_columns(cfg),
        cfg.columns.timestamp,
        start,
        end,
    )
    return check_dtypes(frame, cfg, "predictions", _numeric_columns(cfg))


def read_labels(cfg: ModelConfig, arrived_from: pd.Timestamp, arrived_until: pd.Timestamp) -> pd.DataFrame:
    """(id, target, arrival time) of labels that arrived in [arrived_from, arrived_until); latest per id."""
    src = cfg.sources.labels
    c = cfg.columns
    if src is None:
        return pd.DataFrame(columns=[c.id, c.target])
    frame = _read(cfg, src, "labels", [c.id, c.target, src.arrived_at], src.arrived_at, arrived_from, arrived_until)
    frame = frame.sort_values(src.arrived_at).drop_duplicates(c.id, keep="last")
    return frame[[c.id, c.target]]


def read_reference(cfg: ModelConfig) -> pd.DataFrame:
    """The reference rows: features, prediction, probability, and the target when the file has it."""
    c = cfg.columns
    promoted = promoted_reference(cfg)
    if promoted is not None:
        registry, number = promoted
        return check_dtypes(registry.reference(number), cfg, "reference", _numeric_columns(cfg))
    cols = [*c.features, c.prediction, *([c.probability] if c.probability else [])]
    try:
        frame = _read(cfg, cfg.sources.reference, "reference", [*cols, c.target], None, None, None)
    except SourceError as exc:
        if repr(c.target) not in str(exc):
            raise
        frame = _read(cfg, cfg.sources.reference, "reference", cols, None, None, None)
    return check_dtypes(frame, cfg, "reference", _numeric_columns(cfg))


def promoted_reference(cfg: ModelConfig) -> tuple[Any, int] | None:
    """After a promotion the reference is the champion's out-of-sample holdout, kept in the registry:
    (the registry, the champion's version); None while the configured reference source is in force."""
    from flows.registry import Registry

    registry = Registry(cfg)
    champion = registry.champion()
    if champion is None or not champion.meta.get("has_reference"):
        return None
    return registry, champion.number


def source_fingerprint(cfg: ModelConfig) -> str:
    """Identity of the reference data: its files' names, sizes and modification times (or table and rows);
    after a promotion, the champion's registry reference."""
    promoted = promoted_reference(cfg)
    if promoted is not None:
        registry, number = promoted
        return f"registry:{cfg.name}:v{number}:{registry.version(number).meta['sha256']}"
    if cfg.sources.reference.url is not None:
        return table_fingerprint(cfg.sources.reference)
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
