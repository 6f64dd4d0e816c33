"""CSV and Parquet files (``reader: arrow``, the default): a path or glob on the local file system. Parquet is
read a row group at a time with the window's time range pushed into the scan (row groups whose statistics rule
it out are skipped) and only the configured columns; CSV in chunks of rows."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from driftwarden.config.model import ModelConfig, SourceConfig
from driftwarden.flows.errors import SourceError
from driftwarden.flows.sources.base import ReadRequest, register_reader


@register_reader("arrow")
class ArrowFiles:
    def chunks(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest) -> Iterator[pd.DataFrame]:
        files, fmt = _files(cfg, src, req.what)
        if fmt == "parquet":
            return _read_parquet(files, req)
        return _read_csv(files, req.what, req.columns, req.chunk_rows)

    def columns(self, cfg: ModelConfig, src: SourceConfig, what: str) -> set[str]:
        files, fmt = _files(cfg, src, what)
        try:
            if fmt == "parquet":
                return set(pq.read_schema(files[0]).names)
            return set(pd.read_csv(files[0], nrows=0).columns)
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise SourceError(f"sources.{what}: cannot read {files[0]}: {exc}") from exc

    def fingerprint(self, cfg: ModelConfig, src: SourceConfig, what: str) -> str:
        """The files' names, sizes and modification times."""
        files, fmt = _files(cfg, src, what)
        parts = [fmt] + [f"{f}:{Path(f).stat().st_size}:{Path(f).stat().st_mtime_ns}" for f in files]
        return "|".join(parts)

    def location(self, cfg: ModelConfig, src: SourceConfig, what: str) -> str:
        return _files(cfg, src, what)[0][0]


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


def _read_parquet(files: list[str], req: ReadRequest) -> Iterator[pd.DataFrame]:
    what, columns, time_col, chunk_rows = req.what, req.columns, req.time_col, req.chunk_rows
    schema = _common_schema(files, what, columns)
    try:
        dataset = ds.dataset(files, format="parquet", schema=schema)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"sources.{what}: cannot read {files[0]}: {exc}") from exc
    flt = None
    if req.filtered and time_col:
        ftype = dataset.schema.field(time_col).type
        if pa.types.is_timestamp(ftype):
            # Naive stored times are local times: compare them with the local wall-clock bounds.
            lo, hi = req.bounds(zoned=bool(ftype.tz))
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
