"""The store fails under a run: PostgreSQL cut mid-run or not there, a SQLite file corrupt or full. Each run
fails clearly naming the store (never its password), leaves no half-written run, and its alert is spooled
until a store takes it."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from driftwarden.flows import store
from driftwarden.flows.notify import delivery
from tests.reliability.conftest import Observed, assert_as_table
from tests.reliability.faults import (
    WINDOW_END,
    CutProxy,
    Receiver,
    agrawal_with_hook,
    alert_key,
    cli,
    free_port,
    lost_and_doubled,
    use_store,
)

PASSWORD = "pw-Zq81-hidden"
RUN = ("run", "--window-end", WINDOW_END, "--json")


def _run(config: Path) -> tuple[int, str, dict[str, Any]]:
    code, output, lines = cli(RUN[0], "--config", str(config), *RUN[1:])
    assert lines, output[-3000:]
    return code, output, lines[-1]


def _stored(url: str) -> tuple[int, int, int]:
    """Runs, metric rows and run versions not superseded of the model: what the store holds."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            if "runs" not in tables:
                return 0, 0, 0
            runs = conn.execute(sa.text("select count(*) from runs")).scalar_one()
            metrics = conn.execute(sa.text("select count(*) from metrics")).scalar_one()
            current = conn.execute(sa.text("select count(*) from runs where not superseded")).scalar_one()
        return runs, metrics, current
    finally:
        engine.dispose()


def _spooled() -> list[dict[str, Any]]:
    path = delivery.spool_path()
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for_lapse(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        beat = conn.execute(sa.text("select max(heartbeat_at) from run_locks")).scalar()
    engine.dispose()
    if beat is not None:
        time.sleep(max(0.0, (beat - store.now_utc()).total_seconds() + 5.5))


def _spool_keys() -> set[Any]:
    return {alert_key(q["payload"]) for q in _spooled()}


def _failure_spooled(window_start: str) -> bool:
    """The alert of the failed run waits in the spool (the store is away, so the outbox is too)."""
    title = f"run failed in window {window_start[:10]}"
    return any(q["model"] == "agrawal" and title in q["payload"]["title"] for q in _spooled())


def _drained_and_delivered(config: Path, url: str | None, monkeypatch, port: int, spooled: set[Any], tally) -> None:
    """The store is back (a new process: no pooled connection of the cut one) and so is the channel: the next
    run moves the spool into the outbox and delivers it; every spooled alert arrives, none twice."""
    store.open_store.cache_clear()
    use_store(monkeypatch, url)
    hook = Receiver(port)
    try:
        code, output, _ = _run(config)
    finally:
        hook.stop()
    assert code == 0, output[-3000:]
    assert not delivery.spool_path().exists(), "the next run left the spool in place"
    lost, doubled = lost_and_doubled(spooled, hook.got)
    tally.add("alerts_lost", lost)
    tally.add("alerts_doubled", doubled)
    assert (lost, doubled) == (0, 0), (spooled, hook.got)


@pytest.mark.case("fault.store_cut_mid_run")
def test_store_cut_between_reading_and_writing(tmp_path, dw_home, postgres_url, monkeypatch, tally):
    port = free_port()
    config = agrawal_with_hook(tmp_path / "agrawal", port, monkeypatch)
    # The cut run's lock cannot be released (the store is away) and its process, this one, lives on: the
    # next run takes it over once its beats (1 s here) have lapsed
    monkeypatch.setenv("DRIFTWARDEN_RUN_LOCK_HEARTBEAT", "1")
    proxy = CutProxy(("127.0.0.1", 5432), cut_on=b"UPDATE runs SET superseded")
    through = postgres_url.replace("postgres@127.0.0.1:5432", f"postgres:{PASSWORD}@127.0.0.1:{proxy.port}")
    use_store(monkeypatch, through + "&connect_timeout=10")
    try:
        code, output, failed = _run(config)
        assert proxy.cuts == 1, f"the run never reached its write: {failed['error']}"
        assert proxy.refused >= 2, f"the write was not retried ({proxy.refused} connections tried after the cut)"
        runs, metrics, _ = _stored(postgres_url)  # straight to PostgreSQL, past the proxy
        tally.add("runs_lost", 0)
        tally.add("duplicate_results", 0)
        assert (runs, metrics) == (0, 0), "a half-written run"
        assert PASSWORD not in output and PASSWORD not in delivery.spool_path().read_text()
        spooled = _spool_keys()
        assert _failure_spooled(failed["window_start"]), _spooled()
        proxy.restore()
        _wait_for_lapse(postgres_url)
        _drained_and_delivered(config, through, monkeypatch, port, spooled, tally)
        runs, metrics, current = _stored(postgres_url)
        assert (runs, current) == (1, 1) and metrics > 0
    finally:
        proxy.close()
    assert_as_table(
        "fault.store_cut_mid_run",
        Observed("survives" if code == 1 and f"127.0.0.1:{proxy.port}" in failed["error"] else "crashed",
                 failed["error"]),
    )  # fmt: skip
    tally.add("fault", 1)  # the channel down too


@pytest.mark.case("fault.store_port_closed")
def test_store_port_closed(tmp_path, dw_home, postgres_url, monkeypatch, tally):
    port, closed = free_port(), free_port()
    config = agrawal_with_hook(tmp_path / "agrawal", port, monkeypatch)
    use_store(monkeypatch, f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{closed}/test?connect_timeout=2")
    code, output, failed = _run(config)
    assert code == 1 and failed["status"] == "failed", output[-3000:]
    assert f"127.0.0.1:{closed}" in failed["error"] and "***" in failed["error"], failed["error"]
    assert PASSWORD not in output and PASSWORD not in delivery.spool_path().read_text()
    assert "Traceback" not in output and "sqlalche.me" not in failed["error"], output[-3000:]
    spooled = _spool_keys()
    assert _failure_spooled(failed["window_start"]), _spooled()
    _drained_and_delivered(config, postgres_url, monkeypatch, port, spooled, tally)
    runs, _, current = _stored(postgres_url)
    tally.add("runs_lost", 1 - current)
    tally.add("duplicate_results", max(0, current - 1))
    assert_as_table("fault.store_port_closed", Observed("survives" if runs == 1 else "lost", failed["error"]))
    tally.add("fault", 1)  # the channel down too


@pytest.mark.case("fault.sqlite_corrupt")
def test_sqlite_file_corrupt(tmp_path, dw_home, monkeypatch, tally):
    port = free_port()
    config = agrawal_with_hook(tmp_path / "agrawal", port, monkeypatch)
    db = dw_home / "store.db"
    db.parent.mkdir(parents=True)
    garbage = b"SQLite format 3\x00" + bytes(range(256)) * 32  # a header, then nothing SQLite can read
    db.write_bytes(garbage)
    code, output, failed = _run(config)
    assert code == 1 and failed["status"] == "failed", output[-3000:]
    assert str(db) in failed["error"] and "Traceback" not in output, failed["error"]
    assert db.read_bytes() == garbage, "the corrupt file was changed"
    assert not list(dw_home.glob("store.db-*")) or all(p.stat().st_size == 0 for p in dw_home.glob("store.db-*"))
    assert _failure_spooled(failed["window_start"]), _spooled()  # the alert waits for a store
    tally.add("runs_lost", 0)
    tally.add("duplicate_results", 0)
    assert_as_table("fault.sqlite_corrupt", Observed("survives", failed["error"]))
    tally.add("fault", 1)  # the channel down too


@pytest.mark.case("fault.sqlite_full")
def test_sqlite_store_full(tmp_path, dw_home, monkeypatch, tally):
    port = free_port()
    config = agrawal_with_hook(tmp_path / "agrawal", port, monkeypatch)
    url = f"sqlite:///{dw_home / 'store.db'}"
    code, output, _ = _run(config)  # a first run: the store holds a good result
    assert code == 0, output[-3000:]
    before = _stored(url)
    engine = store.open_store(url)
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("pragma page_count").scalar_one()

    # SQLite itself refuses to grow the file past max_page_count (SQLITE_FULL), as on a full disk
    @sa.event.listens_for(engine, "connect")
    def _full(dbapi_conn: sqlite3.Connection, _: Any) -> None:
        dbapi_conn.execute(f"pragma max_page_count={pages}")

    engine.dispose()
    code, output, failed = _run(config)
    engine.dispose()
    sa.event.remove(engine, "connect", _full)
    assert code == 1 and failed["status"] == "failed", output[-3000:]
    assert "full" in failed["error"] and str(dw_home / "store.db") in failed["error"], failed["error"]
    assert "Traceback" not in output, output[-3000:]
    after = _stored(url)
    tally.add("runs_lost", before[2] - after[2])
    tally.add("duplicate_results", max(0, after[2] - 1))
    # The good result stays current, its metrics whole; at most the failed attempt's own record was written
    # (a row with no metric, kept beside it), never a run without its metrics
    assert (after[1], after[2]) == (before[1], before[2]) and after[0] - before[0] in (0, 1), (before, after)
    with sa.create_engine(url).connect() as conn:
        current = conn.execute(sa.text("select status from runs where not superseded")).scalar_one()
        newest = conn.execute(sa.text("select status from runs order by run_version desc limit 1")).scalar_one()
    assert current != "failed" and (after[0] == before[0] or newest == "failed"), (current, newest)
    assert_as_table("fault.sqlite_full", Observed("survives", failed["error"]))
    tally.add("fault", 1)  # the channel down too
