"""Reads and writes of the alert tables (conditions, outbox, mutes) defined in flows/store/tables.py.

Condition states and the messages they cause are written in one transaction, so a message is queued if
and only if its condition's new state is stored. Times are naive UTC, as in the rest of the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from driftwarden.checks.alerting import ConditionState, Decision, Mute
from driftwarden.flows.store import inserted_id, now_utc
from driftwarden.flows.store.tables import conditions, metrics, mutes, outbox, runs


@dataclass(frozen=True)
class Queued:
    """A message for one channel (payload holds no secret: only the channel's name is kept)."""

    model: str
    channel: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class OutboxRow:
    id: int
    model: str
    channel: str
    payload: dict[str, Any]
    attempts: int


def load_conditions(engine: Engine, model: str) -> dict[str, ConditionState]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(conditions).where(conditions.c.model == model)).mappings().all()
    return {
        r["key"]: ConditionState(
            model=r["model"],
            check=r["check_name"],
            subject=r["subject"],
            state=r["state"],
            severity=r["severity"],
            first_seen=r["first_seen"],
            last_seen=r["last_seen"],
            last_sent=r["last_sent"],
            sent_value=r["sent_value"],
            last_value=r["last_value"],
            detail=r["detail"],
            acknowledged=bool(r["acknowledged"]),
        )
        for r in rows
    }


def active_mutes(engine: Engine, model: str, now: datetime) -> list[Mute]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(mutes).where(mutes.c.model == model, mutes.c.until > now)).mappings().all()
    return [Mute(r["check_name"], r["subject"], r["until"], r["reason"]) for r in rows]


def record(engine: Engine, decisions: Sequence[Decision], queued: Sequence[Queued]) -> None:
    """Store the conditions' new states and queue their messages, in one transaction."""
    now = now_utc()
    with engine.begin() as conn:
        for d in decisions:
            _upsert(conn, d.state)
        _enqueue(conn, queued, now)


def _upsert(conn: Connection, s: ConditionState) -> None:
    values = {
        "model": s.model,
        "check_name": s.check,
        "subject": s.subject,
        "state": s.state,
        "severity": s.severity,
        "first_seen": s.first_seen,
        "last_seen": s.last_seen,
        "last_sent": s.last_sent,
        "sent_value": s.sent_value,
        "last_value": s.last_value,
        "detail": s.detail,
        "acknowledged": s.acknowledged,
    }
    if not s.acknowledged:
        values["acknowledged_at"] = None
    done = conn.execute(conditions.update().where(conditions.c.key == s.key).values(**values))
    if done.rowcount == 0:
        conn.execute(conditions.insert().values(key=s.key, **values))


def _enqueue(conn: Connection, queued: Sequence[Queued], now: datetime) -> None:
    if queued:
        conn.execute(
            outbox.insert(),
            [
                {
                    "model": q.model,
                    "channel": q.channel,
                    "payload": json.dumps(q.payload, default=str),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
                for q in queued
            ],
        )


def enqueue(engine: Engine, queued: Sequence[Queued]) -> None:
    with engine.begin() as conn:
        _enqueue(conn, queued, now_utc())


def pending(engine: Engine, model: str) -> list[OutboxRow]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox).where(outbox.c.model == model, outbox.c.status == "pending").order_by(outbox.c.id)
        ).mappings()
        return [OutboxRow(r["id"], r["model"], r["channel"], json.loads(r["payload"]), r["attempts"]) for r in rows]


def mark_sent(engine: Engine, row_id: int) -> None:
    now = now_utc()
    with engine.begin() as conn:
        conn.execute(
            outbox.update()
            .where(outbox.c.id == row_id)
            .values(status="sent", attempts=outbox.c.attempts + 1, last_attempt=now, sent_at=now, last_error=None)
        )


def mark_failed(engine: Engine, row_id: int, error: str, give_up: bool) -> None:
    with engine.begin() as conn:
        conn.execute(
            outbox.update()
            .where(outbox.c.id == row_id)
            .values(
                status="dead" if give_up else "pending",
                attempts=outbox.c.attempts + 1,
                last_attempt=now_utc(),
                last_error=error[:2000],
            )
        )


def outbox_rows(engine: Engine, model: str, statuses: Sequence[str] = ("pending", "dead")) -> pd.DataFrame:
    q = sa.select(outbox).where(outbox.c.model == model, outbox.c.status.in_(list(statuses)))
    with engine.connect() as conn:
        return pd.read_sql(q.order_by(outbox.c.id), conn)


def open_conditions(engine: Engine, model: str) -> pd.DataFrame:
    q = sa.select(conditions).where(conditions.c.model == model, conditions.c.state == "open")
    with engine.connect() as conn:
        return pd.read_sql(q.order_by(conditions.c.first_seen, conditions.c.key), conn)


def mute_rows(engine: Engine, model: str, now: datetime) -> pd.DataFrame:
    q = sa.select(mutes).where(mutes.c.model == model, mutes.c.until > now)
    with engine.connect() as conn:
        return pd.read_sql(q.order_by(mutes.c.until), conn)


def all_mutes(engine: Engine, model: str) -> pd.DataFrame:
    """Every mute of a model, ended or not, oldest first: the model page's time line."""
    q = sa.select(mutes).where(mutes.c.model == model)
    with engine.connect() as conn:
        return pd.read_sql(q.order_by(mutes.c.created_at), conn)


def add_mute(engine: Engine, model: str, check: str, subject: str, until: datetime, reason: str) -> int:
    with engine.begin() as conn:
        return inserted_id(
            conn.execute(
                mutes.insert().values(
                    model=model, check_name=check, subject=subject, until=until, reason=reason, created_at=now_utc()
                )
            )
        )


def end_mutes(engine: Engine, model: str, check: str, subject: str | None) -> int:
    """End the active mutes of a check (``*``: of every check), of one subject pattern or all; kept as
    history, not deleted."""
    now = now_utc()
    q = mutes.update().where(mutes.c.model == model, mutes.c.until > now)
    if check != "*":
        q = q.where(mutes.c.check_name == check)
    if subject is not None:
        q = q.where(mutes.c.subject == subject)
    with engine.begin() as conn:
        return int(conn.execute(q.values(until=now)).rowcount)


def acknowledge(engine: Engine, model: str, key: str) -> bool:
    """Acknowledge an open condition: no reminders until it worsens or clears. False if no such open key."""
    with engine.begin() as conn:
        done = conn.execute(
            conditions.update()
            .where(conditions.c.model == model, conditions.c.key == key, conditions.c.state == "open")
            .values(acknowledged=True, acknowledged_at=now_utc())
        )
    return bool(done.rowcount)


# --- what the runs say --------------------------------------------------------------------------------


def recent_windows(
    engine: Engine, model: str, start: datetime | None, end: datetime, ended_after: datetime | None = None
) -> list[tuple[dict[str, Any], list]]:
    """The current run of each window with window_start in [start, end) (and ending after ``ended_after``),
    oldest first, with its metric rows (details parsed, passed as True/False/None)."""
    q = sa.select(runs).where(runs.c.model == model, runs.c.superseded.is_(False), runs.c.window_start < end)
    if start is not None:
        q = q.where(runs.c.window_start >= start)
    if ended_after is not None:
        q = q.where(runs.c.window_end > ended_after)
    with engine.connect() as conn:
        found = [dict(r) for r in conn.execute(q.order_by(runs.c.window_start)).mappings()]
        ids = [r["id"] for r in found]
        rows = [dict(m) for m in conn.execute(sa.select(metrics).where(metrics.c.run_id.in_(ids))).mappings()]
    by_run: dict[int, list[dict[str, Any]]] = {}
    for m in rows:
        m["details"] = json.loads(m["details"] or "{}")
        m["passed"] = None if m["passed"] is None else bool(m["passed"])
        by_run.setdefault(m["run_id"], []).append(m)
    return [(r, by_run.get(r["id"], [])) for r in found]


@dataclass(frozen=True)
class Liveness:
    last_success: datetime | None
    """As-of time of the latest successful run."""
    last_rows: datetime | None
    """End of the latest window that had rows."""
    last_labels: datetime | None
    """End of the latest window that has labels."""


def liveness(engine: Engine, model: str, now: datetime) -> Liveness:
    """When the model last had a successful run, rows and labels (as of ``now``)."""
    mine = runs.c.model == model
    with engine.connect() as conn:
        success = conn.execute(
            sa.select(sa.func.max(runs.c.as_of)).where(mine, runs.c.status != "failed", runs.c.as_of <= now)
        ).scalar()
        current = mine & runs.c.superseded.is_(False) & (runs.c.window_end <= now)
        rows = conn.execute(sa.select(sa.func.max(runs.c.window_end)).where(current, runs.c.rows > 0)).scalar()
        labels = conn.execute(
            sa.select(sa.func.max(runs.c.window_end)).where(current, runs.c.labelled_rows > 0)
        ).scalar()
    return Liveness(success, rows, labels)
