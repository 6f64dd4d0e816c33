"""CSV and Parquet files (``reader: arrow``, the default): a path or glob on the local file system. Parquet is
read a row group at a time with the window's time range pushed into the scan (row groups whose statistics rule
it out are skipped) and only the configured columns; CSV in chunks of rows. Read apart (``parts``), a window is
runs of whole row groups of at most ``chunk_rows`` rows (by the files' metadata), or one CSV file each."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from driftwarden.config.model import ModelConfig, SourceConfig
from driftwarden.flows.errors import SourceError
from driftwarden.flows.sources.base import ReadRequest, delimiter_hint, local_matches, register_reader


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

    def parts(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest) -> list[Any]:
        files, fmt = _files(cfg, src, req.what)
        if fmt == "csv":
            return [_CsvFile(os.path.abspath(f)) for f in files]  # absolute: a worker may run elsewhere
        return _plan_parquet(files, req)

    def read_part(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest, part: Any) -> Iterator[pd.DataFrame]:
        if isinstance(part, _CsvFile):
            return _read_csv([part.path], req.what, req.columns, req.chunk_rows)
        return _read_row_groups(part, req)


@dataclass(frozen=True)
class _CsvFile:
    path: str


@dataclass(frozen=True)
class _RowGroups:
    """Whole row groups of Parquet files, read in this order with the common schema of the glob's files."""

    schema: pa.Schema
    groups: tuple[tuple[str, tuple[int, ...]], ...]
    """(file, row group numbers) in reading order."""


def _files(cfg: ModelConfig, src: SourceConfig, what: str) -> tuple[list[str], str]:
    pattern = cfg.resolve(src.path or "")
    matched = local_matches(pattern, what)
    files = [f for f in matched if Path(f).is_file()]
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


_FORMAT = ds.ParquetFileFormat()
_LOCAL = pafs.LocalFileSystem()
_facts: dict[tuple[str, int, int], tuple[pa.Schema, ds.ParquetFileFragment]] = {}
"""Each file's schema and fragment (its footer and row-group statistics read once), by path, modification time
and size: a glob of a year of nightly files is read hundreds of times by a backfill (each window, its labels,
its features), and opening every footer each time would make a window's cost grow with the history."""


def _file(path: str) -> tuple[pa.Schema, ds.ParquetFileFragment]:
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    found = _facts.get(key)
    if found is None:
        fragment = _FORMAT.make_fragment(path, _LOCAL)
        fragment.ensure_complete_metadata()
        found = (fragment.physical_schema, fragment)
        if len(_facts) > 20_000:  # a bound, not a policy: files come and go
            _facts.clear()
        _facts[key] = found
    return found


def _dataset(files: list[str], req: ReadRequest, schema: pa.Schema) -> tuple[ds.Dataset, ds.Expression | None]:
    """The files as one dataset, and the request's time range as a filter Arrow can push into the scan."""
    try:
        fragments = [_file(f)[1] for f in files]
        dataset = ds.FileSystemDataset(fragments, schema, _FORMAT, _LOCAL)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"sources.{req.what}: cannot read {files[0]}: {exc}") from exc
    return dataset, _time_filter(dataset.schema, req)


def _time_filter(schema: pa.Schema, req: ReadRequest) -> ds.Expression | None:
    if not (req.filtered and req.time_col):
        return None
    ftype = schema.field(req.time_col).type
    if not pa.types.is_timestamp(ftype):
        return None
    # Naive stored times are local times: compare them with the local wall-clock bounds.
    lo, hi = req.bounds(zoned=bool(ftype.tz))
    return (ds.field(req.time_col) >= pa.scalar(lo, ftype)) & (ds.field(req.time_col) < pa.scalar(hi, ftype))


# One row group at a time (files and row groups whose statistics rule the window out are skipped), its pages
# decoded as they are read: Arrow holds about a row group, however far ahead a scanner would read.
_OPTIONS = ds.ParquetFragmentScanOptions(pre_buffer=False)


def _batches(fragments: Iterable[ds.Fragment], schema: pa.Schema, req: ReadRequest) -> Iterator[pa.RecordBatch]:
    flt = _time_filter(schema, req)
    for fragment in fragments:
        yield from fragment.to_batches(
            schema=schema,
            columns=req.columns,
            filter=flt,
            batch_size=min(req.chunk_rows, 100_000),
            batch_readahead=0,
            fragment_scan_options=_OPTIONS,
        )


def _frames(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, req: ReadRequest, where: Any
) -> Iterator[pd.DataFrame]:
    """The batches as frames of at least ``chunk_rows`` rows (the last one, maybe empty, of what is left)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    try:
        for batch in batches:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= req.chunk_rows:
                frame = _to_pandas(pending, schema, req.columns)  # empties ``pending``
                rows = 0
                yield frame
                del frame
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"sources.{req.what}: cannot read {where}: {exc}") from exc
    yield _to_pandas(pending, schema, req.columns)


def _read_parquet(files: list[str], req: ReadRequest) -> Iterator[pd.DataFrame]:
    dataset, flt = _dataset(files, req, _common_schema(files, req.what, req.columns, req.numeric))
    groups = (
        group for fragment in dataset.get_fragments(filter=flt) for group in fragment.split_by_row_group(filter=flt)
    )
    return _frames(_batches(groups, dataset.schema, req), dataset.schema, req, files)


def _plan_parquet(files: list[str], req: ReadRequest) -> list[Any]:
    """Runs of consecutive row groups (across files) of at most ``chunk_rows`` rows by the files' metadata, a
    larger row group alone; the row groups whose statistics rule the window out are left out. At least one."""
    dataset, flt = _dataset(files, req, _common_schema(files, req.what, req.columns, req.numeric))
    runs: list[list[tuple[str, int]]] = [[]]
    rows = 0
    try:
        for fragment in dataset.get_fragments(filter=flt):
            for group in fragment.split_by_row_group(filter=flt):
                info = group.row_groups[0]
                if runs[-1] and rows + info.num_rows > req.chunk_rows:
                    runs.append([])
                    rows = 0
                runs[-1].append((os.path.abspath(fragment.path), info.id))
                rows += info.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"sources.{req.what}: cannot read {files}: {exc}") from exc
    return [_RowGroups(dataset.schema, _by_file(run)) for run in runs]


def _by_file(run: list[tuple[str, int]]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    out: list[tuple[str, list[int]]] = []
    for path, group in run:
        if not out or out[-1][0] != path:
            out.append((path, []))
        out[-1][1].append(group)
    return tuple((path, tuple(groups)) for path, groups in out)


def _read_row_groups(part: _RowGroups, req: ReadRequest) -> Iterator[pd.DataFrame]:
    fmt, local = ds.ParquetFileFormat(), pafs.LocalFileSystem()
    try:
        fragments = [fmt.make_fragment(path, local, row_groups=list(groups)) for path, groups in part.groups]
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"sources.{req.what}: cannot read {[p for p, _ in part.groups]}: {exc}") from exc
    return _frames(_batches(fragments, part.schema, req), part.schema, req, [p for p, _ in part.groups])


def _common_schema(files: list[str], what: str, columns: list[str], numeric: tuple[str, ...] = ()) -> pa.Schema:
    """The configured columns' schema, the same in every file: a file without a column (it would read as
    nulls), with another type for it (text where numbers were) or with text in a column that must hold numbers
    is named with the column. A column of nulls only (an empty file's, say) takes the other files' type."""
    first: pa.Schema | None = None
    for f in files:
        try:
            schema = _file(f)[0]
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"sources.{what}: cannot read {f}: {exc}") from exc
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise SourceError(f"sources.{what}: {f} has no column(s) {missing}")
        for col in (c for c in numeric if c in columns):  # a regression's target may come with the labels
            t = schema.field(col).type
            if not (_numeric(t) or pa.types.is_null(t) or pa.types.is_boolean(t)):
                raise SourceError(f"sources.{what}: column {col!r} should hold numbers but is {t} in {f}")
        if first is None:
            first = schema
            continue
        for col in columns:
            a, b = first.field(col).type, schema.field(col).type
            if a == b or pa.types.is_null(b):
                continue
            if pa.types.is_null(a):
                first = first.set(first.get_field_index(col), pa.field(col, b))
                continue
            if not (_numeric(a) and _numeric(b)):
                raise SourceError(f"sources.{what}: column {col!r} is {b} in {f} but {a} in {files[0]}")
            first = first.set(first.get_field_index(col), pa.field(col, pa.float64()))  # ints and floats: floats
    assert first is not None
    return first


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


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
            raise SourceError(f"sources.{what}: {f} has no column(s) {missing}{delimiter_hint(head)}")
        try:
            yield from pd.read_csv(f, usecols=columns, chunksize=chunk_rows)
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
            raise SourceError(f"sources.{what}: cannot read {f}: {exc}") from exc
