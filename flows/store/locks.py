"""Per-window locks in the store: runs of different windows of one model may run in parallel, two runs of
the same window never interleave. A lock is a row of ``run_locks`` keyed by (model, window start); the
primary key makes taking it atomic on SQLite and PostgreSQL alike. A lock whose run crashed expires after
``DRIFTWARDEN_RUN_LOCK_TTL`` seconds and is then taken over; sooner, when its run was a process on this host
that no longer runs."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from driftwarden.flows import store
from driftwarden.flows.errors import DriftwardenError

log = logging.getLogger(__name__)


class WindowBusy(DriftwardenError):
    """Another run holds the window's lock."""


@dataclass(frozen=True)
class WindowLock:
    model: str
    window_start: datetime
    """Naive UTC, as stored."""
    owner: str
    """host:pid:nonce of the run that holds it."""


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_died(owner: str) -> bool:
    """The holder ran on this host and its process is gone (killed: nothing released its lock). Another
    host's holder cannot be seen from here: its lock waits for its expiry."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def acquire(
    engine: Engine,
    model: str,
    window_start: datetime,
    label: str,
    ttl: timedelta,
    now: datetime | None = None,
    doing: str = "monitored",
) -> WindowLock:
    """Take the lock of one window or raise WindowBusy naming the window, the model and since when.

    An expired lock (its run died) is removed and taken over in the same transaction."""
    lock = WindowLock(model, window_start, _owner())
    for _ in range(3):  # the holder may release between our insert and our look at it
        at = now or store.now_utc()
        key = (store.run_locks.c.model == model) & (store.run_locks.c.window_start == window_start)
        try:
            with engine.begin() as conn:
                conn.execute(store.run_locks.delete().where(key, store.run_locks.c.expires_at <= at))
                conn.execute(
                    store.run_locks.insert().values(
                        model=model, window_start=window_start, owner=lock.owner, acquired_at=at, expires_at=at + ttl
                    )
                )
            return lock
        except sa.exc.IntegrityError:
            with engine.connect() as conn:
                holder = conn.execute(sa.select(store.run_locks).where(key)).first()
            if holder is not None and _owner_died(holder.owner):
                with engine.begin() as conn:  # a killed run's lock (a backfill stopped by kill -9): taken over
                    conn.execute(store.run_locks.delete().where(key, store.run_locks.c.owner == holder.owner))
                log.warning("took over the lock of %s held by %s, a process that no longer runs", label, holder.owner)
                continue
            if holder is not None:
                raise WindowBusy(
                    f"{label} of model {model} is being {doing} by another run since "
                    f"{holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC ({holder.owner}); its lock expires at "
                    f"{holder.expires_at:%Y-%m-%d %H:%M:%S} UTC"
                ) from None
    raise WindowBusy(f"{label} of model {model}: its lock is contended; try again")


RETRAINING = datetime(1970, 1, 1)
"""The lock row of a model's retraining (no window starts then): one retraining of a model at a time."""


def acquire_retraining(engine: Engine, model: str, ttl: timedelta) -> WindowLock:
    """Two retrainings of one model never overlap (both would register version N, one promote the other's)."""
    return acquire(engine, model, RETRAINING, "the registry", ttl, doing="retrained")


def release(engine: Engine, lock: WindowLock) -> None:
    """Give the lock back (only our own: a run whose lock expired and was taken over removes nothing)."""
    with engine.begin() as conn:
        conn.execute(
            store.run_locks.delete().where(
                store.run_locks.c.model == lock.model,
                store.run_locks.c.window_start == lock.window_start,
                store.run_locks.c.owner == lock.owner,
            )
        )


def release_quietly(store_url: str, lock: WindowLock | None) -> None:
    """Release at the end of a run; a store that went down only leaves a lock that expires by itself."""
    if lock is None:
        return
    try:
        release(store.open_store(store_url), lock)
    except Exception as exc:  # the run's own outcome matters more than the lock
        log.warning("could not release the lock of %s %s: %s", lock.model, lock.window_start, exc)
