"""The store: the few functions that read and write its tables (``tables.py``) for runs and references.

A run's results are written in one transaction. Re-running (or re-scoring) a window adds a new run
version and marks the earlier one superseded; nothing is deleted. Times are stored as naive UTC.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from driftwarden.flows.pauses import pause_at
from driftwarden.flows.store.schema import upgrade
from driftwarden.flows.store.tables import (  # noqa: F401 (the store's tables, as store.<table>)
    acceptances,
    conditions,
    failure_samples,
    metadata,
    metrics,
    mutes,
    outbox,
    references,
    run_locks,
    runs,
)

# by another name: `store.incidents` is the module of the incidents' reads and writes
from driftwarden.flows.store.tables import incidents as incidents_table


def utc(ts: Any) -> datetime:
    """Naive UTC datetime of a timestamp (aware ones are converted, naive ones taken as UTC)."""
    t = pd.Timestamp(ts)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.to_pydatetime()


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the row an insert just wrote."""
    key = result.inserted_primary_key
    assert key is not None, "not the result of a single-row insert"
    return int(key[0])


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _wal(cur: Any, patience_s: float = 30.0) -> None:
    """Switch a SQLite file to WAL. The switch needs the file's exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, while another connection holds a read lock it would have to
    wait out (two processes opening a new store together): that answer is retried until ``patience_s``."""
    import sqlite3

    deadline = time.monotonic() + patience_s
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def store_name(url: str) -> str:
    """The store as a user knows it: a SQLite file's path, or the URL with its password hidden."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return "the store (its URL is not valid)"
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite store {parsed.database}"
    return f"the store {parsed.render_as_string(hide_password=True)}"


def describe_error(url: str, exc: BaseException) -> str | None:
    """A store error in plain words naming the store (never its password), without SQLAlchemy's wrapping and
    link; None when ``exc`` is not the store's (a database driver's error)."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    cause = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    text = cause.lower()
    if "not a database" in text or "malformed" in text:
        why = f"is not a readable SQLite database (corrupt or another kind of file; left untouched): {cause}"
    elif "full" in text:
        why = f"is full, nothing more can be written to it: {cause}"
    elif "readonly" in text or "read-only" in text:
        why = f"is read-only: {cause}"
    elif isinstance(exc, sa.exc.OperationalError):
        why = f"could not be reached or stopped answering: {cause}"
    else:
        why = f"refused the operation: {cause}"
    secret = sa.engine.make_url(url).password if "://" in url else None
    message = f"{store_name(url)} {why}"
    return message.replace(str(secret), "***") if secret else message


@lru_cache(maxsize=8)
def open_store(url: str) -> Engine:
    """The store's engine for a URL (one per URL and process), its schema upgraded to the migrations' head.

    Tasks are handed the URL, never an open connection, and open connections from this pool inside."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        if engine.url.database not in (None, "", ":memory:"):
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            # Wait for another process's write first: switching to WAL itself needs the lock, and without a
            # busy timeout a second process opening the store mid-migration fails at once ("database is locked").
            cur.execute("PRAGMA busy_timeout=30000")
            _wal(cur)
            # In WAL mode NORMAL is safe against a crash of the process and cannot corrupt the file; only a
            # power loss may roll back the last commits. FULL syncs the disk on every commit (a backfill makes
            # several a window: most of the time of writing a run).
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    upgrade(engine)
    return engine


# --- references ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredReference:
    id: int
    version: int
    fingerprint: str
    profile: dict[str, Any]


def current_reference(engine: Engine, model: str) -> StoredReference | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(references).where(references.c.model == model).order_by(references.c.version.desc())
        ).first()
    if row is None:
        return None
    return StoredReference(row.id, row.version, row.fingerprint, json.loads(row.profile))


def reference_by_id(engine: Engine, reference_id: int) -> StoredReference | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(references).where(references.c.id == int(reference_id))).first()
    if row is None:
        return None
    return StoredReference(row.id, row.version, row.fingerprint, json.loads(row.profile))


def add_reference(
    engine: Engine, model: str, source: str, fingerprint: str, rows: int, profile: dict[str, Any]
) -> StoredReference:
    with engine.begin() as conn:
        latest = conn.execute(sa.select(sa.func.max(references.c.version)).where(references.c.model == model)).scalar()
        version = (latest or 0) + 1
        rid = inserted_id(
            conn.execute(
                references.insert().values(
                    model=model,
                    version=version,
                    created_at=now_utc(),
                    source=source,
                    fingerprint=fingerprint,
                    rows=rows,
                    profile=json.dumps(profile),
                )
            )
        )
    return StoredReference(rid, version, fingerprint, profile)


# --- runs ---------------------------------------------------------------------------------------------


@dataclass
class MetricRow:
    kind: str
    name: str
    column: str | None = None
    segment: str = "all"
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    threshold: float | None = None
    direction: str | None = None
    passed: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    model: str
    window_start: datetime
    window_end: datetime
    trigger: str
    status: str
    started_at: datetime
    causes: Sequence[str] = ()
    rows: int | None = None
    labelled_rows: int | None = None
    label_coverage: float | None = None
    as_of: datetime | None = None
    reference_id: int | None = None
    error: str | None = None
    summary: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    report_uri: str | None = None


def _clean(v: Any) -> Any:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return None if f != f else f


def write_run(
    engine: Engine,
    run: RunRecord,
    metric_rows: Iterable[MetricRow],
    failures: Iterable[dict[str, Any]] = (),
    copy_metrics_from: int | None = None,
    copy_kinds_except: Sequence[str] = ("kpi", "target_drift"),
) -> tuple[int, int, int]:
    """Write a run version with its metrics and failure samples in one transaction.

    Returns (run id, run version, failure samples written). Failure samples already logged for the same
    (model, row id, reason) are not logged twice.
    """
    with engine.begin() as conn:
        version = _next_version(conn, run.model, run.window_start)
        same_window = (runs.c.model == run.model) & (runs.c.window_start == run.window_start)
        # A failed attempt never hides a good result: it is kept as a superseded version beside it.
        keep_current = (
            run.status == "failed"
            and conn.execute(
                sa.select(runs.c.id).where(same_window, runs.c.superseded.is_(False), runs.c.status != "failed")
            ).first()
            is not None
        )
        if not keep_current:
            conn.execute(runs.update().where(same_window).values(superseded=True))
        values = {k: getattr(run, k) for k in RunRecord.__dataclass_fields__}
        values.update(
            causes=json.dumps(list(run.causes)),
            findings=json.dumps(run.findings),
            run_version=version,
            superseded=keep_current,
            finished_at=now_utc(),
        )
        run_id = inserted_id(conn.execute(runs.insert().values(**values)))
        pause_at("storing")  # inside the transaction: the run row written, its metrics not yet
        rows = [
            {
                "run_id": run_id,
                "kind": m.kind,
                "name": m.name,
                "column": m.column,
                "segment": m.segment,
                "value": _clean(m.value),
                "lower": _clean(m.lower),
                "upper": _clean(m.upper),
                "threshold": _clean(m.threshold),
                "direction": m.direction,
                "passed": m.passed,
                "details": json.dumps(m.details, default=str),
            }
            for m in metric_rows
        ]
        if copy_metrics_from is not None:
            cols = [c for c in metrics.c if c.name not in ("id", "run_id")]
            old = conn.execute(
                sa.select(*cols).where(
                    metrics.c.run_id == copy_metrics_from, metrics.c.kind.not_in(list(copy_kinds_except))
                )
            ).mappings()
            rows += [{**dict(r), "run_id": run_id} for r in old]
        if rows:
            conn.execute(metrics.insert(), rows)
        written = _insert_failures(conn, run, run_id, list(failures))
    _written_here[(run.model, utc(run.window_start))] = version
    return run_id, version, written


_written_here: dict[tuple[str, Any], int] = {}


def version_written_here(model: str, window_start: Any) -> int | None:
    """The last version of the window this process wrote (committed), if it wrote one: which stored verdict is
    this process's own, when another process may have stored one of the same window meanwhile."""
    return _written_here.get((model, utc(window_start)))


def _next_version(conn: Connection, model: str, window_start: datetime) -> int:
    latest = conn.execute(
        sa.select(sa.func.max(runs.c.run_version)).where(runs.c.model == model, runs.c.window_start == window_start)
    ).scalar()
    return (latest or 0) + 1


def _insert_failures(conn: Connection, run: RunRecord, run_id: int, samples: list[dict[str, Any]]) -> int:
    if not samples:
        return 0
    ids = sorted({str(s["row_id"]) for s in samples})
    seen: set[tuple[str, str]] = set()
    for i in range(0, len(ids), 500):  # bounded IN lists
        seen.update(
            (str(r[0]), str(r[1]))
            for r in conn.execute(
                sa.select(failure_samples.c.row_id, failure_samples.c.reason).where(
                    failure_samples.c.model == run.model, failure_samples.c.row_id.in_(ids[i : i + 500])
                )
            )
        )
    fresh = []
    for sample in samples:
        key = (str(sample["row_id"]), sample["reason"])
        if key not in seen:
            seen.add(key)
            fresh.append(sample)
    if fresh:
        now = now_utc()
        conn.execute(
            failure_samples.insert(),
            [
                {
                    "run_id": run_id,
                    "model": run.model,
                    "window_start": run.window_start,
                    "reason": s["reason"],
                    "row_id": str(s["row_id"]),
                    "model_version": s["model_version"],
                    "prediction": json.dumps(s["prediction"], default=str),
                    "label": json.dumps(s["label"], default=str),
                    "score": _clean(s["score"]),
                    "features": json.dumps(s["features"], default=str),
                    "detail": s["detail"],
                    "created_at": now,
                    "used_in_training": False,
                }
                for s in fresh
            ],
        )
    return len(fresh)


def _frame(conn: Connection, q: Any) -> pd.DataFrame:
    """``pd.read_sql`` of the store's own tables, at half its cost: the same columns and dtypes (the store has
    no Numeric column, whose Decimals read_sql would coerce); the monitor reads the store dozens of times a
    window."""
    result = conn.execute(q)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def latest_runs(
    engine: Engine,
    model: str,
    start: datetime | None = None,
    end: datetime | None = None,
    last: int | None = None,
    failed: bool = True,
    ended_after: datetime | None = None,
) -> pd.DataFrame:
    """The current (not superseded) run of each window with window_start in [start, end), oldest first; only
    the ``last`` ones (newest), without failed runs when ``failed`` is False, only windows ending after
    ``ended_after``. A long history is not read whole to look at its end."""
    q = sa.select(runs).where(runs.c.model == model, runs.c.superseded.is_(False))
    if start is not None:
        q = q.where(runs.c.window_start >= start)
    if end is not None:
        q = q.where(runs.c.window_start < end)
    if not failed:
        q = q.where(runs.c.status != "failed")
    if ended_after is not None:
        q = q.where(runs.c.window_end > ended_after)
    if last is not None:
        newest = q.order_by(runs.c.window_start.desc()).limit(last).subquery()
        q = sa.select(newest)
        order = newest.c.window_start
    else:
        order = runs.c.window_start
    with engine.connect() as conn:
        return _frame(conn, q.order_by(order))


def labels_checked(engine: Engine, run_id: int, as_of: datetime) -> None:
    """Label catch-up looked at a run's window again as of ``as_of`` and found no new label: the version it would
    write would be this one again, so this one holds as of then (its own ``as_of`` is left as it was)."""
    with engine.begin() as conn:
        conn.execute(runs.update().where(runs.c.id == run_id).values(labels_checked_at=as_of))


def window_times(engine: Engine, model: str, end: datetime) -> list[tuple[datetime, datetime, datetime | None]]:
    """(window_start, window_end, labels known as of) of the current run of each window starting before ``end``
    that did not fail, oldest first (the later of its ``as_of`` and ``labels_checked_at``): for the label
    catch-up to find the windows it still owes."""
    q = (
        sa.select(runs.c.window_start, runs.c.window_end, runs.c.as_of, runs.c.labels_checked_at)
        .where(runs.c.model == model, runs.c.superseded.is_(False), runs.c.status != "failed")
        .where(runs.c.window_start < end)
        .order_by(runs.c.window_start)
    )
    with engine.connect() as conn:
        return [(r[0], r[1], max((t for t in (r[2], r[3]) if t is not None), default=None)) for r in conn.execute(q)]


def run_metrics(engine: Engine, run_ids: Sequence[int], kind: str | None = None) -> pd.DataFrame:
    q = sa.select(metrics).where(metrics.c.run_id.in_([int(i) for i in run_ids]))
    if kind:
        q = q.where(metrics.c.kind == kind)
    with engine.connect() as conn:
        return _frame(conn, q)


def all_versions(engine: Engine, model: str, window_start: datetime) -> pd.DataFrame:
    q = sa.select(runs).where(runs.c.model == model, runs.c.window_start == window_start)
    with engine.connect() as conn:
        return pd.read_sql(q.order_by(runs.c.run_version), conn)


def failure_log(engine: Engine, model: str, since: datetime | None = None, reason: str | None = None) -> pd.DataFrame:
    q = sa.select(failure_samples).where(failure_samples.c.model == model)
    if since is not None:
        q = q.where(failure_samples.c.window_start >= since)
    if reason:
        q = q.where(failure_samples.c.reason == reason)
    with engine.connect() as conn:
        return pd.read_sql(q.order_by(failure_samples.c.window_start, failure_samples.c.id), conn)


def count_failures(engine: Engine, model: str, window_start: datetime) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(failure_samples)
                .where(failure_samples.c.model == model, failure_samples.c.window_start == window_start)
            ).scalar()
            or 0
        )


def mark_used_in_training(engine: Engine, model: str, row_ids: Sequence[str]) -> int:
    """Flag failure samples a registered model was trained on (retention keeps them while it exists)."""
    ids = sorted(set(row_ids))
    done = 0
    with engine.begin() as conn:
        for i in range(0, len(ids), 500):
            done += conn.execute(
                failure_samples.update()
                .where(failure_samples.c.model == model, failure_samples.c.row_id.in_(ids[i : i + 500]))
                .values(used_in_training=True)
            ).rowcount
    return done


def forget_model(engine: Engine, model: str) -> int:
    """Delete everything stored about one model (runs, metrics, failure samples, references, alert state,
    locks, incidents), in one transaction; the number of runs removed. Only the demo does this, before it replays its
    month from the start: monitoring itself never deletes (a re-run supersedes)."""
    with engine.begin() as conn:
        run_ids = sa.select(runs.c.id).where(runs.c.model == model).scalar_subquery()
        conn.execute(metrics.delete().where(metrics.c.run_id.in_(run_ids)))
        for table in (failure_samples, conditions, outbox, mutes, run_locks, acceptances, incidents_table):
            conn.execute(table.delete().where(table.c.model == model))
        removed = int(conn.execute(runs.delete().where(runs.c.model == model)).rowcount or 0)
        conn.execute(references.delete().where(references.c.model == model))
        return removed


def failure_counts(engine: Engine, model: str) -> pd.DataFrame:
    """Failure samples logged per window and reason (window_start, reason, n): the failure log over time
    without reading its rows."""
    q = (
        sa.select(failure_samples.c.window_start, failure_samples.c.reason, sa.func.count().label("n"))
        .where(failure_samples.c.model == model)
        .group_by(failure_samples.c.window_start, failure_samples.c.reason)
        .order_by(failure_samples.c.window_start)
    )
    with engine.connect() as conn:
        return _frame(conn, q)
