"""A killed run's lock is taken over at once when its process ran on this host and no longer exists; a live
holder's lock, or one held from another host (whose process cannot be seen from here), is refused."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from driftwarden.flows import store
from driftwarden.flows.store import locks

WINDOW = datetime(2026, 3, 1)
DEAD_PID = 2**22 + 12345  # above Linux's largest pid_max (2**22): never a running process
TTL = timedelta(hours=1)


@pytest.fixture
def engine(tmp_path):
    return store.open_store(f"sqlite:///{tmp_path / 'store.db'}")


def _held_by(engine, owner: str, window: datetime = WINDOW) -> None:
    now = store.now_utc()
    with engine.begin() as conn:  # far from expiring: only the owner's death can free it
        conn.execute(
            store.run_locks.insert().values(
                model="m", window_start=window, owner=owner, acquired_at=now, expires_at=now + timedelta(days=1)
            )
        )


def _owners(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(store.run_locks.c.owner)).scalars())


def test_the_lock_of_a_dead_process_on_this_host_is_taken_over(engine):
    with pytest.raises(ProcessLookupError):  # the premise: no such process
        os.kill(DEAD_PID, 0)
    dead = f"{socket.gethostname()}:{DEAD_PID}:abc"
    _held_by(engine, dead)
    lock = locks.acquire(engine, "m", WINDOW, "window 2026-03-01", TTL)
    assert lock.owner != dead and lock.owner.startswith(f"{socket.gethostname()}:{os.getpid()}:")
    assert _owners(engine) == [lock.owner]
    locks.release(engine, lock)
    assert _owners(engine) == []


def test_only_that_window_s_dead_lock_is_removed(engine):
    other = datetime(2026, 3, 2)
    _held_by(engine, f"{socket.gethostname()}:{DEAD_PID}:abc")
    _held_by(engine, f"{socket.gethostname()}:{os.getpid()}:live", other)
    lock = locks.acquire(engine, "m", WINDOW, "window 2026-03-01", TTL)
    assert sorted(_owners(engine)) == sorted([lock.owner, f"{socket.gethostname()}:{os.getpid()}:live"])


@pytest.mark.parametrize(
    "owner",
    [
        pytest.param(f"{socket.gethostname()}:{os.getpid()}:abc", id="alive-this-process"),
        pytest.param(f"{socket.gethostname()}:1:abc", id="alive-pid-1"),
        pytest.param(f"another-host-{socket.gethostname()}:{DEAD_PID}:abc", id="another-host"),
        pytest.param(f"{socket.gethostname()}:not-a-pid:abc", id="unreadable-pid"),
        pytest.param("no-colons-at-all", id="unreadable-owner"),
    ],
)
def test_a_live_or_unknowable_holder_keeps_its_lock(engine, owner):
    _held_by(engine, owner)
    with pytest.raises(locks.WindowBusy, match="window 2026-03-01 of model m is being monitored by another run") as e:
        locks.acquire(engine, "m", WINDOW, "window 2026-03-01", TTL)
    assert owner in str(e.value)
    assert _owners(engine) == [owner]  # untouched


def test_an_expired_lock_of_another_host_is_still_taken_over(engine):
    now = store.now_utc()
    with engine.begin() as conn:
        conn.execute(
            store.run_locks.insert().values(
                model="m",
                window_start=WINDOW,
                owner="elsewhere:1:abc",
                acquired_at=now - 2 * TTL,
                expires_at=now - TTL,
            )
        )
    lock = locks.acquire(engine, "m", WINDOW, "window 2026-03-01", TTL)
    assert _owners(engine) == [lock.owner]
