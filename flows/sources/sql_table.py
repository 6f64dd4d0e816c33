"""Read a window from a database table: only the configured columns, the time range bound as parameters
in the WHERE clause, streamed in chunks (sorted when the request says by what). Table and column names are
quoted by SQLAlchemy, never pasted. Read apart (``parts``), a window is consecutive time ranges of about
``chunk_rows`` rows each (from one count of the window's rows); the URL's secrets come from the environment of
the process that reads."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from driftwarden.config.model import ModelConfig, SourceConfig
from driftwarden.config.settings import expand_secrets
from driftwarden.flows.errors import SourceError, SourceUnavailable, first_line
from driftwarden.flows.sources.base import ReadRequest, inside_data_roots, register_reader


@lru_cache(maxsize=16)
def _engine(url: str) -> Engine:
    return sa.create_engine(url, pool_pre_ping=True)


@contextmanager
def _reaching(engine: Engine, src: SourceConfig, what: str) -> Iterator[None]:
    """A database that cannot be reached (down, refusing, timing out, locked) as a SourceUnavailable naming
    the source and where it is (never the password): the run's I/O retries it, then fails with this."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise SourceUnavailable(
            f"sources.{what}: table {src.table} at {where} cannot be reached: {first_line(exc)}"
        ) from None


def _source_engine(src: SourceConfig, what: str) -> Engine:
    """The engine of a table source, its URL's ``${VAR}`` filled from the environment (named if unset)."""
    assert src.url is not None
    try:
        url = expand_secrets(src.url, f"sources.{what}.url")
    except KeyError as exc:
        raise SourceError(str(exc.args[0])) from None
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() in ("sqlite", "duckdb") and parsed.database not in (None, "", ":memory:"):
        inside_data_roots(parsed.database, f"sources.{what}.url")  # a database file is a local source too
    return _engine(url)


def _table(engine: Engine, src: SourceConfig, what: str) -> sa.Table:
    assert src.table is not None
    schema, _, name = src.table.rpartition(".")
    if engine.dialect.name == "duckdb":
        return _duckdb_table(engine, src, what, schema or "main", name)
    try:
        return sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=engine)
    except sa.exc.NoSuchTableError as exc:
        raise SourceError(f"sources.{what}: no table {src.table} in the database") from exc


def _duckdb_table(engine: Engine, src: SourceConfig, what: str, schema: str, name: str) -> sa.Table:
    """A DuckDB table from its information_schema (duckdb-engine's reflection asks for PostgreSQL catalog
    tables DuckDB does not have)."""
    query = sa.text(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = :schema AND table_name = :name ORDER BY ordinal_position"
    )
    with engine.connect() as conn:
        rows = conn.execute(query, {"schema": schema, "name": name}).fetchall()
    if not rows:
        raise SourceError(f"sources.{what}: no table {src.table} in the database")

    def kind(data_type: str) -> sa.types.TypeEngine[Any]:
        upper = data_type.upper()
        if upper.startswith("TIMESTAMP"):
            return sa.DateTime(timezone="TIME ZONE" in upper)
        return sa.types.NullType()

    columns = [sa.Column(str(n), kind(str(t))) for n, t in rows]
    return sa.Table(name, sa.MetaData(), *columns, schema=None if schema == "main" else schema)


def _bounds(table: sa.Table, req: ReadRequest) -> tuple[datetime, datetime]:
    """The request's [start, end) as the time column compares: naive local times, or zoned ones."""
    assert req.time_col is not None
    col = table.c[req.time_col]
    lo, hi = req.bounds(zoned=isinstance(col.type, sa.DateTime) and bool(col.type.timezone))
    return lo.to_pydatetime(), hi.to_pydatetime()


def read_table(
    src: SourceConfig, what: str, req: ReadRequest, between: tuple[Any, Any] | None = None
) -> Iterator[pd.DataFrame]:
    """The request's rows (of the time range ``between`` only, when given), in chunks of ``req.chunk_rows``
    (at least one, maybe empty). Naive timestamp columns hold local times of ``req.tz``; time-zone-aware ones
    are compared in UTC."""
    columns, time_col = req.columns, req.time_col
    engine = _source_engine(src, what)
    with _reaching(engine, src, what):
        table = _table(engine, src, what)
    missing = [c for c in columns if c not in table.c]
    if missing:
        raise SourceError(f"sources.{what}: table {src.table} has no column(s) {missing}")
    query = sa.select(*[table.c[c] for c in columns])
    if req.filtered and time_col:
        col = table.c[time_col]
        lo, hi = between or _bounds(table, req)
        query = query.where(col >= lo, col < hi)
    if req.order:  # the same rows in the same order however the window is cut into ranges
        query = query.order_by(*[table.c[c] for c in req.order if c in table.c])
    empty = True
    with _reaching(engine, src, what), engine.connect() as conn:  # a server-side cursor where the driver has one
        for chunk in pd.read_sql(query, conn.execution_options(stream_results=True), chunksize=req.chunk_rows):
            empty = False
            yield chunk
    if empty:
        yield pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def plan_ranges(src: SourceConfig, req: ReadRequest) -> list[Any]:
    """[start, end) cut into ceil(rows / chunk_rows) ranges of equal length between the first and the last
    row's time, as the column compares (one count query); the whole request when it is not a time range of a
    timestamp column or has no more rows than a chunk."""
    if not (req.filtered and req.time_col):
        return [None]
    engine = _source_engine(src, req.what)
    with _reaching(engine, src, req.what):
        table = _table(engine, src, req.what)
        if req.time_col not in table.c or not isinstance(table.c[req.time_col].type, sa.DateTime):
            return [None]  # read whole: that read names what is wrong
        col = table.c[req.time_col]
        lo, hi = _bounds(table, req)
        query = sa.select(sa.func.count(), sa.func.min(col), sa.func.max(col)).where(col >= lo, col < hi)
        with engine.connect() as conn:
            rows, first, last = conn.execute(query).one()
    n = math.ceil((rows or 0) / req.chunk_rows)
    if n <= 1 or not isinstance(first, datetime) or not isinstance(last, datetime) or first >= last:
        return [None]
    cuts = [first + (last - first) * i / n for i in range(1, n)]
    return list(zip([lo, *cuts], [*cuts, hi], strict=True))


def table_columns(src: SourceConfig, what: str) -> list[str]:
    engine = _source_engine(src, what)
    with _reaching(engine, src, what):
        return [c.name for c in _table(engine, src, what).columns]


def table_fingerprint(src: SourceConfig) -> str:
    """Identity of a reference table: its name and row count (a reload that changes it makes a new version)."""
    engine = _source_engine(src, "reference")
    with _reaching(engine, src, "reference"):
        table = _table(engine, src, "reference")
        with engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
    return f"sql|{src.table}|{rows}"


@register_reader("sql")
class SqlTable:
    # read_table is looked up at call time, so that a test can count the tries of the run's retries
    def chunks(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest) -> Iterator[pd.DataFrame]:
        return read_table(src, req.what, req)

    def columns(self, cfg: ModelConfig, src: SourceConfig, what: str) -> set[str]:
        return set(table_columns(src, what))

    def fingerprint(self, cfg: ModelConfig, src: SourceConfig, what: str) -> str:
        return table_fingerprint(src)

    def location(self, cfg: ModelConfig, src: SourceConfig, what: str) -> str:
        return cfg.describe(src)

    def parts(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest) -> list[Any]:
        return plan_ranges(src, req)

    def read_part(self, cfg: ModelConfig, src: SourceConfig, req: ReadRequest, part: Any) -> Iterator[pd.DataFrame]:
        return read_table(src, req.what, req, part)
