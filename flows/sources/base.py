"""What every kind of source is: a ``Reader`` registered under its kind, the key ``SourceConfig.kind`` gives
(``arrow`` and ``duckdb`` files, ``sql`` tables). The facade (``driftwarden.flows.sources``) asks the
registry for a source's reader and does what is the same for every kind: local times, the window's time
filter, one chunk at a time, numeric checks.

A new kind is one module with a class and its registration, plus its name in ``config.model.SourceKind``::

    @register_reader("mykind")
    class MyReader:
        def chunks(self, cfg, src, req): ...      # frames of req.columns, req.chunk_rows at most, at least one
        def columns(self, cfg, src, what): ...    # the column names the source has
        def fingerprint(self, cfg, src, what): ...  # identity of a reference (a new one makes a new profile)
        def location(self, cfg, src, what): ...   # where it is, for messages (never a password)
        def parts(self, cfg, src, req): ...       # optional: the request cut into pieces read apart (below)
        def read_part(self, cfg, src, req, part): ...  # the frames of one piece, as ``chunks`` gives them

``parts`` lets the workers of a cluster read a window side by side: each part is a small picklable value (files
and row groups, a file, a time range) that another process reads on its own with ``read_part``; read in turn,
the parts give the rows of ``chunks`` in the same order. A part holds no secret: ``read_part`` takes those from
the environment of the process that reads. A reader without ``parts`` is read whole, as one part.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import pandas as pd

from driftwarden.config.model import ModelConfig, SourceConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows.errors import SourceError


@dataclass(frozen=True)
class ReadRequest:
    """What to read: ``columns`` of the rows whose ``time_col`` lies in [start, end) (both tz-aware; no
    filter without them), in chunks of at most ``chunk_rows``. ``what`` names the source in every message
    (``sources.<what>``); naive stored times are wall-clock times of ``tz``."""

    what: str
    columns: list[str]
    time_col: str | None
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    tz: str
    chunk_rows: int
    order: tuple[str, ...] = ()
    """Columns the rows come sorted by where the reader sorts (a database); files come in file order."""
    numeric: tuple[str, ...] = ()
    """Columns that must hold numbers: a file that stores one as text (Parquet's own types) is named."""

    @property
    def filtered(self) -> bool:
        return self.time_col is not None and self.start is not None and self.end is not None

    def bounds(self, zoned: bool) -> tuple[pd.Timestamp, pd.Timestamp]:
        """[start, end) as the stored column compares: as they are for a zoned column, as naive wall-clock
        times of ``tz`` for a naive one."""
        assert self.start is not None and self.end is not None
        if zoned:
            return self.start, self.end
        return self.start.tz_convert(self.tz).tz_localize(None), self.end.tz_convert(self.tz).tz_localize(None)


class Reader(Protocol):
    def chunks(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest) -> Iterator[pd.DataFrame]: ...

    def columns(self, cfg: ModelConfig, src: SourceConfig, what: str) -> set[str]: ...

    def fingerprint(self, cfg: ModelConfig, src: SourceConfig, what: str) -> str: ...

    def location(self, cfg: ModelConfig, src: SourceConfig, what: str) -> str: ...


class PartReader(Reader, Protocol):
    def parts(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest) -> list[Any]: ...

    def read_part(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest, part: Any) -> Iterator[pd.DataFrame]: ...


@dataclass(frozen=True)
class ChunkSpec:
    """One piece of a read (``index`` in reading order) that any process can read on its own: the request and
    the reader's description of the piece (None: the whole request). Picklable, and no secret in it."""

    index: int
    request: ReadRequest
    part: Any = None


READERS: dict[str, Reader] = {}
"""Kind -> its reader; ``tests/flows/sources/test_registry.py`` keeps it in step with ``SourceKind``."""

R = TypeVar("R")


def register_reader(kind: str) -> Callable[[type[R]], type[R]]:
    """Class decorator: one instance of the class reads every source of ``kind``."""

    def add(cls: type[R]) -> type[R]:
        if kind in READERS:
            raise ValueError(f"a reader for source kind {kind!r} is registered already")
        READERS[kind] = cls()  # type: ignore[assignment]
        return cls

    return add


def reader_for(src: SourceConfig) -> Reader:
    try:
        return READERS[src.kind]
    except KeyError:
        raise ValueError(f"no reader for source kind {src.kind!r}; registered: {sorted(READERS)}") from None


def part_reader(src: SourceConfig) -> PartReader | None:
    """The source's reader when it can cut a request into parts (``parts``, ``read_part``), else None."""
    reader = reader_for(src)
    return cast(PartReader, reader) if hasattr(reader, "parts") and hasattr(reader, "read_part") else None


def delimiter_hint(header: list[str] | pd.Index) -> str:
    """A hint when a CSV file's header reads as one column holding another separator: the file is most likely
    separated by it, where comma-separated values are read."""
    if len(header) != 1:
        return ""
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
        if sep in str(header[0]):
            return (
                f"; its header reads as one column {str(header[0])[:80]!r}: the delimiter may be wrong (the file "
                f"seems separated by {name}; CSV files are read separated by commas)"
            )
    return ""


def local_matches(pattern: str, what: str) -> list[str]:
    """The local paths a path or glob names (the path itself when it is no glob), refused by name when any is a
    directory. A folder is never read (a folder of Parquet parts needs a glob into it): skipping it quietly
    would turn its rows into "no rows" (a dead feed) or into a window short of rows."""
    globbed = any(ch in pattern for ch in "*?[")
    matched = sorted(glob.glob(pattern)) if globbed else [pattern]
    folders = [f for f in matched if Path(f).is_dir()]
    if folders and not globbed:
        raise SourceError(
            f"sources.{what}.path: {pattern} is a directory; a file is expected (or a glob of the files in it, "
            f"such as {pattern.rstrip('/')}/*.parquet)"
        )
    if folders:
        shown = ", ".join(folders[:5]) + (f" and {len(folders) - 5} more" if len(folders) > 5 else "")
        raise SourceError(
            f"sources.{what}.path: {pattern} matches {len(folders)} director{'y' if len(folders) == 1 else 'ies'}, "
            f"which would not be read: {shown}; a file is expected (a glob into a folder reads its files)"
        )
    for f in matched:
        inside_data_roots(f, f"sources.{what}.path", pattern)
    return matched


def inside_data_roots(path: str, key: str, given: str | None = None) -> None:
    """Refuse a local file that lies, its path resolved with symlinks followed, outside every folder of
    DRIFTWARDEN_DATA_ROOTS (unset: any path is allowed). The message names the key and the roots."""
    roots = get_settings().resolved_data_roots()
    if not roots:
        return
    real = Path(path.removeprefix("file://")).expanduser().resolve()
    if not any(real.is_relative_to(root) for root in roots):
        shown = " and ".join(str(r) for r in roots)
        named = given if given is not None else path
        raise SourceError(
            f"{key}: {named} resolves to {real}, which is outside the allowed data roots {shown} "
            "(DRIFTWARDEN_DATA_ROOTS)"
        )
