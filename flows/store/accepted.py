"""Reads and writes of the acceptances of standing share issues (the table in flows/store/tables.py)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from driftwarden.checks.shares import Acceptance
from driftwarden.flows.store import _frame, inserted_id, now_utc
from driftwarden.flows.store.tables import acceptances


def add(engine: Engine, model: str, rule: str, reason: str, by: str, expires: datetime) -> int:
    with engine.begin() as conn:
        q = acceptances.insert().values(
            model=model, rule=rule, reason=reason, accepted_by=by, created_at=now_utc(), expires_at=expires
        )
        return inserted_id(conn.execute(q))


def end(engine: Engine, model: str, rule: str) -> int:
    """End the acceptances of a rule in force now (kept as history)."""
    now = now_utc()
    q = acceptances.update().where(
        acceptances.c.model == model, acceptances.c.rule == rule, acceptances.c.expires_at > now
    )
    with engine.begin() as conn:
        return int(conn.execute(q.values(expires_at=now)).rowcount)


def rows(engine: Engine, model: str, at: datetime | None = None) -> pd.DataFrame:
    """The acceptances in force at ``at``, or every one ever made when ``at`` is None; oldest first."""
    q = sa.select(acceptances).where(acceptances.c.model == model)
    if at is not None:
        q = q.where(acceptances.c.created_at <= at, acceptances.c.expires_at > at)
    with engine.connect() as conn:
        return _frame(conn, q.order_by(acceptances.c.created_at))


def in_force(engine: Engine, model: str, at: datetime) -> dict[str, Acceptance]:
    """Rule -> the acceptance in force at ``at`` (the latest made, when several are)."""
    found = rows(engine, model, at)
    return {
        r["rule"]: Acceptance(r["rule"], r["reason"], pd.Timestamp(r["expires_at"]).isoformat(), r["accepted_by"])
        for _, r in found.iterrows()
    }
