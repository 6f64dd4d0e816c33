"""Per-window locks in the store: runs of different windows of one model may run in parallel, two runs of
the same window never interleave. A lock is a row of ``run_locks`` keyed by (model, window start); the
primary key makes taking it atomic on SQLite and PostgreSQL alike. A lock whose run crashed expires after
``DRIFTWARDEN_RUN_LOCK_TTL`` seconds and is then taken over; sooner, when its run was a process on this host
that no longer runs, or when its holder (on any host) missed ``MISSED_BEATS`` beats: the holder beats every
``DRIFTWARDEN_RUN_LOCK_HEARTBEAT`` seconds while it holds the lock."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.errors import DriftwardenError

log = logging.getLogger(__name__)
MISSED_BEATS = 5
"""Beats a holder may miss (a slow store, a paused VM) before its lock is taken as abandoned."""
_beating: dict[str, threading.Event] = {}


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
    beat = timedelta(seconds=get_settings().run_lock_heartbeat)
    table = store.run_locks
    for _ in range(3):  # the holder may release between our insert and our look at it
        at = now or store.now_utc()
        key = (table.c.model == model) & (table.c.window_start == window_start)
        lapsed = table.c.heartbeat_at.is_not(None) & (table.c.heartbeat_at <= at - MISSED_BEATS * beat)
        try:
            with engine.begin() as conn:
                gone = conn.execute(table.delete().where(key, lapsed).returning(table.c.owner)).scalars().all()
                conn.execute(table.delete().where(key, table.c.expires_at <= at))
                conn.execute(
                    table.insert().values(
                        model=model, window_start=window_start, owner=lock.owner, acquired_at=at, expires_at=at + ttl,
                        heartbeat_at=at,
                    )
                )  # fmt: skip
            if gone:
                log.warning("took over the lock of %s held by %s, whose heartbeat stopped", label, gone[0])
            _start_beating(engine, lock, beat)
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


def _start_beating(engine: Engine, lock: WindowLock, every: timedelta) -> None:
    """Beat for the lock until it is released, in a daemon thread (it dies with the process: a killed or hung
    holder stops beating). A beat the store misses is only logged: enough missed ones let the lock go."""
    stop = threading.Event()
    _beating[lock.owner] = stop
    key = (
        (store.run_locks.c.model == lock.model)
        & (store.run_locks.c.window_start == lock.window_start)
        & (store.run_locks.c.owner == lock.owner)
    )

    def beat() -> None:
        while not stop.wait(every.total_seconds()):
            try:
                with engine.begin() as conn:
                    conn.execute(store.run_locks.update().where(key).values(heartbeat_at=store.now_utc()))
            except Exception as exc:  # the store is away: the run itself says so
                log.warning("could not beat for the lock of %s %s: %s", lock.model, lock.window_start, exc)

    threading.Thread(target=beat, name=f"lock-heartbeat-{lock.model}", daemon=True).start()


def _stop_beating(lock: WindowLock) -> None:
    stop = _beating.pop(lock.owner, None)
    if stop is not None:
        stop.set()


def release(engine: Engine, lock: WindowLock) -> None:
    """Give the lock back (only our own: a run whose lock expired and was taken over removes nothing)."""
    _stop_beating(lock)
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
    _stop_beating(lock)  # also when the store is away: the lock then lapses, to be taken over
    try:
        release(store.open_store(store_url), lock)
    except Exception as exc:  # the run's own outcome matters more than the lock
        log.warning("could not release the lock of %s %s: %s", lock.model, lock.window_start, exc)
