"""A model's incidents and their post-mortems (the ``incidents`` table), and the reads that derive them: every
run version's status and checks in a few narrow queries, so that a long history is read in one pass."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from driftwarden.flows.store.tables import failure_samples, incidents, metrics, outbox, runs

COLUMNS = (
    "id", "model", "cause", "state", "opened_at", "updated_at", "closed_at", "first_window", "last_window",
    "windows", "predictions", "title", "summary", "markdown", "html_path", "document", "fingerprint",
)  # fmt: skip
"""The columns of ``list_incidents``: what the model page and the CLI read."""


def upsert_incidents(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace incidents by id (rows of the table's columns; ``document`` a dict or its JSON)."""
    if not rows:
        return
    values = [_row(r) for r in rows]
    with engine.begin() as conn:
        ids = [v["id"] for v in values]
        known = {r[0] for r in conn.execute(sa.select(incidents.c.id).where(incidents.c.id.in_(ids)))}
        for v in values:
            if v["id"] in known:
                conn.execute(incidents.update().where(incidents.c.id == v["id"]).values(**v))
            else:
                conn.execute(incidents.insert().values(**v))


def _row(r: Mapping[str, Any]) -> dict[str, Any]:
    v = {c: r.get(c) for c in COLUMNS}
    if not isinstance(v["document"], str):
        v["document"] = json.dumps(v["document"] or {}, default=str)
    v["fingerprint"] = v["fingerprint"] or ""
    return v


def remove_other_incidents(engine: Engine, model: str, keep: Sequence[str]) -> int:
    """Delete the model's incidents whose ids are not in ``keep`` (the runs that made them are gone: a store
    the demo started over, a purge); the number removed."""
    with engine.begin() as conn:
        q = incidents.delete().where(incidents.c.model == model)
        if keep:
            q = q.where(incidents.c.id.not_in(list(keep)))
        return int(conn.execute(q).rowcount or 0)


def list_incidents(engine: Engine, model: str) -> pd.DataFrame:
    """The model's incidents, oldest first (by first window, then cause), with the columns of ``COLUMNS``:
    id, model, cause, state ('open' | 'closed'), opened_at, updated_at, closed_at (naive UTC datetimes;
    closed_at None while open), first_window, last_window (window starts), windows, predictions, title,
    summary (one plain sentence), markdown, html_path, document (the post-mortem as JSON text), fingerprint."""
    q = sa.select(*[incidents.c[c] for c in COLUMNS]).where(incidents.c.model == model)
    with engine.connect() as conn:
        result = conn.execute(q.order_by(incidents.c.first_window, incidents.c.cause))
        frame = pd.DataFrame(result.fetchall(), columns=list(COLUMNS))
    if not frame.empty:  # None rather than NaT for an open incident's closing time
        frame["closed_at"] = frame["closed_at"].astype(object).where(frame["closed_at"].notna(), None)
    return frame


# --- reads the derivation needs ---------------------------------------------------------------------------


def run_versions(engine: Engine, model: str) -> pd.DataFrame:
    """Every run version of the model (narrow: no findings, no summary), oldest window first."""
    cols = [
        runs.c.id, runs.c.window_start, runs.c.window_end, runs.c.run_version, runs.c.superseded, runs.c.status,
        runs.c.causes, runs.c.rows, runs.c.labelled_rows, runs.c.label_coverage, runs.c.as_of, runs.c.started_at,
        runs.c.report_uri,
    ]  # fmt: skip
    q = sa.select(*cols).where(runs.c.model == model).order_by(runs.c.window_start, runs.c.run_version)
    with engine.connect() as conn:
        result = conn.execute(q)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def check_rows(engine: Engine, model: str) -> pd.DataFrame:
    """The rows the checks of every version are read from: volume, the dataset drift row, the KPIs of segment
    ``all``, and one row per version for validation (passed unless a rule failed)."""
    of_model = sa.select(runs.c.id).where(runs.c.model == model).scalar_subquery()
    plain = sa.select(metrics.c.run_id, metrics.c.kind, metrics.c.segment, metrics.c.passed, metrics.c.details).where(
        metrics.c.run_id.in_(of_model),
        sa.or_(
            metrics.c.kind == "volume",
            sa.and_(metrics.c.kind == "kpi", metrics.c.segment == "all"),
            sa.and_(metrics.c.kind == "drift", metrics.c.column.is_(None)),
        ),
    )
    failed = sa.func.sum(sa.case((metrics.c.passed.is_(False), 1), else_=0))
    validation = (
        sa.select(metrics.c.run_id, failed.label("failed"))
        .where(metrics.c.run_id.in_(of_model), metrics.c.kind == "validation")
        .group_by(metrics.c.run_id)
    )
    with engine.connect() as conn:
        result = conn.execute(plain)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        checked = conn.execute(validation).fetchall()
    extra = pd.DataFrame(
        [
            {"run_id": r[0], "kind": "validation", "segment": "all", "passed": not r[1], "details": "{}"}
            for r in checked
        ],
        columns=["run_id", "kind", "segment", "passed", "details"],
    )
    return pd.concat([frame, extra], ignore_index=True) if not extra.empty else frame


def evidence_of(engine: Engine, run_ids: Sequence[int]) -> pd.DataFrame:
    """The metric rows a post-mortem reads for some runs: KPIs (every segment), estimates, validation, drift,
    volume."""
    ids = sorted({int(i) for i in run_ids})
    frames = []
    for i in range(0, len(ids), 500):  # bounded IN lists
        q = sa.select(metrics).where(
            metrics.c.run_id.in_(ids[i : i + 500]),
            metrics.c.kind.in_(("kpi", "estimate", "validation", "drift", "volume")),
        )
        with engine.connect() as conn:
            result = conn.execute(q)
            frames.append(pd.DataFrame(result.fetchall(), columns=list(result.keys())))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[c.name for c in metrics.c])


def run_texts(engine: Engine, run_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """(summary, findings JSON) of some runs."""
    ids = sorted({int(i) for i in run_ids})
    out: dict[int, tuple[str, str]] = {}
    with engine.connect() as conn:
        for i in range(0, len(ids), 500):
            q = sa.select(runs.c.id, runs.c.summary, runs.c.findings).where(runs.c.id.in_(ids[i : i + 500]))
            out.update({int(r[0]): (r[1] or "", r[2] or "[]") for r in conn.execute(q)})
    return out


def failure_counts(engine: Engine, model: str) -> pd.DataFrame:
    """Failure samples logged per window and reason (window_start, reason, n)."""
    q = (
        sa.select(failure_samples.c.window_start, failure_samples.c.reason, sa.func.count().label("n"))
        .where(failure_samples.c.model == model)
        .group_by(failure_samples.c.window_start, failure_samples.c.reason)
    )
    with engine.connect() as conn:
        result = conn.execute(q)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def alert_messages(engine: Engine, model: str) -> pd.DataFrame:
    """The model's outbox rows (every status): channel, payload (JSON text), status, created_at, sent_at."""
    q = sa.select(outbox.c.channel, outbox.c.payload, outbox.c.status, outbox.c.created_at, outbox.c.sent_at).where(
        outbox.c.model == model
    )
    with engine.connect() as conn:
        result = conn.execute(q.order_by(outbox.c.id))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
