"""Files read through DuckDB (``reader: duckdb``): a glob of Parquet or CSV files, local or on an object store
(``s3://``, ``gs://``, ``https://``, with DuckDB's httpfs extension), queried with the configured columns and
the window's time range in the query, so that DuckDB skips what the window does not need (row groups by
their statistics, columns by projection); rows arrive in Arrow batches, never as one frame.

Paths and time bounds are bound parameters; column names are quoted as identifiers; settings (``SET``) are
checked names with quoted values, their secrets taken from the environment at connection time (of the process
that reads: a worker of a cluster reading a part takes them from its own). Read apart (``parts``), a glob is
its files, in runs of at most ``chunk_rows`` rows by the Parquet files' metadata, a CSV file each.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pandas as pd

from driftwarden.config.model import ModelConfig, SourceConfig
from driftwarden.config.settings import env_secret
from driftwarden.flows.errors import SourceError, SourceUnavailable
from driftwarden.flows.sources.base import ReadRequest, delimiter_hint, local_matches, register_reader


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _format(src: SourceConfig, path: str, what: str) -> str:
    if src.format != "auto":
        return src.format
    name = path.lower().rstrip("/")
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise SourceError(f"sources.{what}: cannot tell the format of {path}; set format: csv|parquet")


def _scan(fmt: str) -> str:
    # CSV as the Arrow reader reads it (comma-separated, a header, double quotes): DuckDB's dialect sniffing
    # would quietly read a file separated by semicolons, or one with an unclosed quote, that the other reader
    # refuses; the column types are still inferred.
    if fmt == "parquet":
        return "read_parquet(?)"
    return "read_csv(?, delim = ',', quote = '\"', escape = '\"', header = true)"


def connect(src: SourceConfig, what: str, path: str, tz: str | None = None) -> Any:
    """An in-memory DuckDB connection with the source's settings (and httpfs for a remote path), in the model's
    time zone ``tz``: a CSV column mixing naive and zoned times is read as zoned, its naive times then wall
    times of the connection's zone (the machine's otherwise, UTC on most servers)."""
    import duckdb

    if not _remote(path):  # DuckDB's glob skips folders quietly, and a folder as the path "matches no file"
        local_matches(path, what)
    con = duckdb.connect()
    try:
        # DuckDB fetches a missing extension from the internet when a query or a setting needs it (an s3_*
        # setting wants httpfs even for a local path): never; httpfs comes from the installed package
        con.execute("SET autoinstall_known_extensions = false")
        if tz is not None:
            con.execute(f"SET TimeZone = {_literal(tz)}")
        if _remote(path) or src.duckdb_settings:
            _load_httpfs(con, what)
        for key, value in src.duckdb_settings.items():
            where = f"sources.{what}.duckdb_settings.{key}"
            # only a whole ${ENV_VAR} is expanded, from the environment alone: ${file:...}, ${env:...} or a
            # stray ${ is refused by env_secret, never read as a file or a command
            text = env_secret(value, where) if "${" in value else value
            con.execute(f"SET {key} = {_literal(text)}")
    except duckdb.Error as exc:
        con.close()
        raise SourceError(f"sources.{what}: DuckDB refused a setting: {_scrubbed(exc, src)}") from None
    except (KeyError, ValueError) as exc:  # an unset variable, or a ${...} that is no ${ENV_VAR} placeholder
        con.close()
        raise SourceError(str(exc.args[0])) from None
    return con


def _load_httpfs(con: Any, what: str) -> None:
    """DuckDB's httpfs extension: from the duckdb-ext-httpfs package when installed (its wheel carries the
    binary under ``duckdb_ext/extensions/<version>/<platform>/``: no download at run time), else from DuckDB's
    own extension folder."""
    import importlib.util
    from pathlib import Path

    import duckdb

    spec = importlib.util.find_spec("duckdb_ext")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    packaged = [Path(f) / "extensions" for f in folders if (Path(f) / "extensions").is_dir()]
    if packaged:
        con.execute(f"SET extension_directory = {_literal(str(packaged[0]))}")
    con.execute("SET autoinstall_known_extensions = false")
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error as exc:
        raise SourceError(
            f"sources.{what}: an object-store path needs DuckDB's httpfs extension, which is not installed "
            f"({exc}); install the duckdb-ext-httpfs package, or run INSTALL httpfs once with internet access"
        ) from None


def _scrubbed(exc: Exception, src: SourceConfig) -> str:
    text = str(exc)
    for value in src.duckdb_settings.values():
        if "${" in value:
            try:
                text = text.replace(env_secret(value, "duckdb_settings"), "***")
            except (KeyError, ValueError):
                pass
    return text


_UNREACHABLE = ("could not establish connection", "timed out", "timeout", "connection reset", "connection refused")


def _read_error(exc: Exception, src: SourceConfig, what: str, path: str) -> SourceError:
    """A DuckDB error as a user reads it: an object store that cannot be reached now is worth a retry."""
    status = getattr(exc, "status_code", None)
    text = str(exc).lower()
    if (isinstance(status, int) and (status >= 500 or status == 429)) or any(t in text for t in _UNREACHABLE):
        return SourceUnavailable(f"sources.{what}: {path} cannot be reached: {_scrubbed(exc, src)}")
    return SourceError(f"sources.{what}: cannot read {path}: {_scrubbed(exc, src)}")


def columns_of(cfg: ModelConfig, src: SourceConfig, what: str) -> dict[str, str]:
    """Column name -> DuckDB type of the files."""
    import duckdb

    path = cfg.resolve(src.path or "")
    fmt = _format(src, path, what)
    if not _remote(path):  # DuckDB reads an empty CSV file of a glob as no rows: a dead feed, not a broken file
        empty = [f for f in local_matches(path, what) if os.path.isfile(f) and os.path.getsize(f) == 0]
        if empty:
            raise SourceError(f"sources.{what}: {empty[0]} is empty (0 bytes)")
    with closing(connect(src, what, path)) as con:
        try:
            rows = con.execute(f"DESCRIBE SELECT * FROM {_scan(fmt)}", [path]).fetchall()
        except duckdb.Error as exc:
            raise _culprit(con, src, what, path, fmt, []) or _read_error(exc, src, what, path) from None
    return {str(r[0]): str(r[1]) for r in rows}


def _culprit(con: Any, src: SourceConfig, what: str, path: str, fmt: str, columns: list[str]) -> SourceError | None:
    """The first local file of the glob that cannot be read alone or lacks one of ``columns``, as the error
    naming it (DuckDB's own message names the glob, or a line, but not always the file); None when each file
    reads on its own (or the path is remote, where reading each file again would cost a transfer each)."""
    import duckdb

    if _remote(path):
        return None
    for f in local_matches(path, what):
        named = f if f == path else f"{f} (of {path})"
        try:
            found = [str(r[0]) for r in con.execute(f"DESCRIBE SELECT * FROM {_scan(fmt)}", [f]).fetchall()]
            missing = [c for c in columns if c not in found]
            if missing:
                return SourceError(f"sources.{what}: {_missing(f, missing, found, fmt, named)}")
            if columns:  # every row: a bad byte or quote far into a file shows only when it is read
                con.execute(f"SELECT count(*) FROM (SELECT {', '.join(map(_quote, columns))} FROM {_scan(fmt)})", [f])
        except duckdb.Error as exc:
            return SourceError(f"sources.{what}: cannot read {named}: {_scrubbed(exc, src)}")
    return None


def _missing(file: str, missing: list[str], found: list[str], fmt: str, named: str | None = None) -> str:
    """Why ``file`` (``named`` so in the message) lacks columns, said as a user would look for it."""
    named = named or file
    if os.path.isfile(file) and os.path.getsize(file) == 0:
        return f"{named} is empty (0 bytes)"
    return f"{named} has no column(s) {missing}{delimiter_hint(found) if fmt == 'csv' else ''}"


def read_files(
    cfg: ModelConfig, src: SourceConfig, req: ReadRequest, files: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """The request's rows (of ``files`` of the glob only, when given), in chunks of ``req.chunk_rows`` (at
    least one, maybe empty). A naive timestamp column holds local times of ``req.tz``; a zoned one is
    compared in UTC."""
    import duckdb

    what, columns, time_col = req.what, req.columns, req.time_col
    path = cfg.resolve(src.path or "")
    fmt = _format(src, path, what)
    types = columns_of(cfg, src, what)
    missing = [c for c in columns if c not in types]
    if missing:
        with closing(connect(src, what, path)) as con:
            named = _culprit(con, src, what, path, fmt, columns)
        raise named or SourceError(f"sources.{what}: {_missing(path, missing, list(types), fmt)}")
    texty = [c for c in req.numeric if fmt == "parquet" and types.get(c, "").upper() in ("VARCHAR", "BLOB")]
    if texty:  # Parquet's own type says text: a CSV's column of a few bad rows is left to validation instead
        raise SourceError(f"sources.{what}: column {texty[0]!r} should hold numbers but is {types[texty[0]]} in {path}")
    query = f"SELECT {', '.join(_quote(c) for c in columns)} FROM {_scan(fmt)}"
    params: list[Any] = [path if files is None else files]
    if req.filtered and time_col and "TIMESTAMP" in types[time_col].upper():
        lo, hi = req.bounds(zoned="TIME ZONE" in types[time_col].upper())
        query += f" WHERE {_quote(time_col)} >= ? AND {_quote(time_col)} < ?"
        params += [lo.to_pydatetime(), hi.to_pydatetime()]
    with closing(connect(src, what, path, req.tz)) as con:
        try:
            reader = con.execute(query, params).fetch_record_batch(req.chunk_rows)
            empty = True
            for batch in reader:
                if batch.num_rows or empty:
                    empty = False
                    yield batch.to_pandas()
            if empty:
                yield reader.schema.empty_table().to_pandas()
        except duckdb.Error as exc:
            failed = _read_error(exc, src, what, path)
            raise (
                failed
                if isinstance(failed, SourceUnavailable)
                else _culprit(con, src, what, path, fmt, columns) or failed
            ) from None


def plan_files(cfg: ModelConfig, src: SourceConfig, req: ReadRequest) -> list[Any]:
    """The glob's files in runs of at most ``req.chunk_rows`` rows (Parquet, by the files' metadata; a larger
    file alone), or one each (CSV). No file: the glob whole, whose read says so."""
    import duckdb

    path = cfg.resolve(src.path or "")
    fmt = _format(src, path, req.what)
    with closing(connect(src, req.what, path)) as con:
        try:
            files = [str(r[0]) for r in con.execute("SELECT file FROM glob(?) ORDER BY file", [path]).fetchall()]
            if fmt != "parquet" or len(files) < 2:
                return [(f,) for f in files] or [None]
            meta = con.execute("SELECT file_name, num_rows FROM parquet_file_metadata(?)", [files]).fetchall()
        except duckdb.Error as exc:
            raise _read_error(exc, src, req.what, path) from None
    sizes = {str(name): int(rows) for name, rows in meta}
    runs: list[list[str]] = [[]]
    rows = 0
    for f in files:
        if runs[-1] and rows + sizes.get(f, 0) > req.chunk_rows:
            runs.append([])
            rows = 0
        runs[-1].append(f)
        rows += sizes.get(f, 0)
    return [tuple(run) for run in runs]


def fingerprint(cfg: ModelConfig, src: SourceConfig, what: str) -> str:
    """Identity of a reference read through DuckDB: its files' names and its row count."""
    import duckdb

    path = cfg.resolve(src.path or "")
    fmt = _format(src, path, what)
    with closing(connect(src, what, path)) as con:
        try:
            files = [str(r[0]) for r in con.execute("SELECT file FROM glob(?) ORDER BY file", [path]).fetchall()]
            rows = con.execute(f"SELECT count(*) FROM {_scan(fmt)}", [path]).fetchone()
        except duckdb.Error as exc:
            raise _read_error(exc, src, what, path) from None
    return f"duckdb|{'|'.join(files)}|{rows[0] if rows else 0}"


@register_reader("duckdb")
class DuckdbFiles:
    def chunks(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest) -> Iterator[pd.DataFrame]:
        return read_files(cfg, src, req)

    def columns(self, cfg: ModelConfig, src: SourceConfig, what: str) -> set[str]:
        return set(columns_of(cfg, src, what))

    def fingerprint(self, cfg: ModelConfig, src: SourceConfig, what: str) -> str:
        return fingerprint(cfg, src, what)

    def location(self, cfg: ModelConfig, src: SourceConfig, what: str) -> str:
        return cfg.resolve(src.path or "")

    def parts(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest) -> list[Any]:
        return plan_files(cfg, src, req)

    def read_part(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest, part: Any) -> Iterator[pd.DataFrame]:
        return read_files(cfg, src, req, None if part is None else list(part))
