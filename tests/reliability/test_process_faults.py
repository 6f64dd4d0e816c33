"""A run's process goes away under it: a lock's holder on another host stops beating."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.store import locks
from tests.reliability.conftest import Observed, assert_as_table

WINDOW = datetime(2025, 2, 11)
TTL = timedelta(hours=6)


def _hold(engine: sa.Engine, owner: str, beat_at: datetime) -> None:
    """A lock taken by a run on another host (its pid means nothing here), last beating at ``beat_at``."""
    at = store.now_utc()
    with engine.begin() as conn:
        conn.execute(
            store.run_locks.insert().values(
                model="agrawal", window_start=WINDOW, owner=owner, acquired_at=at - timedelta(minutes=30),
                expires_at=at + TTL, heartbeat_at=beat_at,
            )
        )  # fmt: skip


def _holder(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(store.run_locks.c.owner)).scalar()


@pytest.mark.case("fault.remote_lock_heartbeat")
def test_a_lock_whose_remote_holder_stopped_beating_is_taken_over_before_its_ttl(dw_home, monkeypatch, tally):
    monkeypatch.setenv("DRIFTWARDEN_RUN_LOCK_HEARTBEAT", "1")
    get_settings.cache_clear()
    engine = store.open_store(get_settings().resolved_store_url())
    now = store.now_utc()

    # Beating a moment ago on another host: busy, whatever its pid
    _hold(engine, "other-host:1:aaaa", now - timedelta(seconds=2))
    with pytest.raises(locks.WindowBusy, match="other-host:1:aaaa"):
        locks.acquire(engine, "agrawal", WINDOW, "window 2025-02-11", TTL)

    # Silent for 5 beats (5 s here; 5 min by default), hours before its TTL: taken over
    with engine.begin() as conn:
        conn.execute(store.run_locks.update().values(heartbeat_at=now - timedelta(seconds=6)))
    mine = locks.acquire(engine, "agrawal", WINDOW, "window 2025-02-11", TTL)
    assert _holder(engine) == mine.owner

    # The new holder beats while it holds the lock: after 6 beats' time it is still its own
    time.sleep(6)
    with pytest.raises(locks.WindowBusy):
        locks.acquire(engine, "agrawal", WINDOW, "window 2025-02-11", TTL)
    with engine.connect() as conn:
        beat_at = conn.execute(sa.select(store.run_locks.c.heartbeat_at)).scalar_one()
    assert store.now_utc() - beat_at < timedelta(seconds=3), beat_at
    locks.release(engine, mine)
    assert _holder(engine) is None
    assert_as_table("fault.remote_lock_heartbeat", Observed("survives", "taken over after its beats lapsed"), tally)
