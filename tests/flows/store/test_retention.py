"""Retention (prune, also after each run) and erasure (purge) of reports and failure samples."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from driftwarden.config.loader import load_model_config
from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.store import retention
from tests.streams import agrawal_config, write_agrawal_sources

pytestmark = pytest.mark.slow
runner = CliRunner()
RETENTION = {"reports": "1d", "failure_samples": "1d"}


def _samples_by_window(engine: sa.Engine) -> dict[int, tuple[int, int]]:
    """window day -> (samples, of them used in training)."""
    fs = store.failure_samples
    q = sa.select(fs.c.window_start, sa.func.count(), sa.func.sum(sa.cast(fs.c.used_in_training, sa.Integer)))
    with engine.connect() as conn:
        rows = conn.execute(q.group_by(fs.c.window_start)).all()
    return {r[0].day: (int(r[1]), int(r[2] or 0)) for r in rows}


@pytest.fixture
def backfilled(tmp_path, dw_home):
    config = write_agrawal_sources(tmp_path / "agrawal", config=agrawal_config(retention=RETENTION))
    args = ["backfill", "--config", str(config), "--start", "2025-02-19", "--end", "2025-02-23", "--json"]
    assert runner.invoke(app, args, catch_exceptions=False).exit_code == 0
    engine = store.open_store(get_settings().resolved_store_url())
    with engine.begin() as conn:  # the retraining branch marks what a registered model was trained on
        fs = store.failure_samples
        conn.execute(fs.update().where(fs.c.id % 2 == 0).values(used_in_training=True))
    return config, engine


def test_prune_deletes_old_reports_and_samples_but_keeps_training_samples_and_runs(backfilled):
    config, engine = backfilled
    cfg = load_model_config(config)
    before = _samples_by_window(engine)
    total, trained = before[20]  # the Agrawal stream's mistakes of these days fall on 2025-02-20
    assert total > trained > 0
    pages = store.latest_runs(engine, "agrawal")[["window_start", "report_uri"]]
    assert len(pages) == 4 and all(Path(p).exists() for p in pages["report_uri"])

    young = retention.prune(engine, cfg, now=datetime(2025, 2, 21, 12))  # 2025-02-20 ended only 12h before
    assert young.samples == 0 and young.reports >= 1  # 2025-02-19's pages (a page per run version)
    assert _samples_by_window(engine) == before

    now = datetime(2025, 2, 23)  # windows that ended on or before 2025-02-22 are past the 1d retention
    dry = retention.prune(engine, cfg, now=now, dry_run=True)
    past = {day: counts for day, counts in before.items() if day <= 21}  # the backfill's catch-up labelled 21 too
    trained = sum(k for _, k in past.values())
    assert (dry.samples, dry.kept_for_training) == (sum(t for t, _ in past.values()) - trained, trained)
    assert _samples_by_window(engine) == before  # a dry run deletes nothing
    done = retention.prune(engine, cfg, now=now)
    assert (done.samples, done.kept_for_training) == (dry.samples, dry.kept_for_training)
    assert done.reports >= 2 and done.files >= done.reports
    kept_samples = {day: (k, k) for day, (_, k) in past.items() if k} | {d: c for d, c in before.items() if d > 21}
    assert _samples_by_window(engine) == kept_samples
    runs = store.latest_runs(engine, "agrawal")
    assert len(runs) == 4  # verdicts and metrics stay
    kept = runs[runs["window_start"] == datetime(2025, 2, 22)]["report_uri"].iloc[0]
    assert runs["report_uri"].notna().sum() == 1 and Path(kept).exists()
    assert not any(Path(p).exists() for p in pages["report_uri"] if p != kept)


def test_prune_command_and_prune_after_each_run(backfilled, tmp_path):
    config, engine = backfilled
    dry = runner.invoke(app, ["prune", "--config", str(config), "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0 and re.search(r"agrawal: would prune [1-9]\d* report\(s\)", dry.stdout)
    # A run with prune_after_run: everything of 2025 is past 1d now, except the samples used in training.
    nightly = {**RETENTION, "prune_after_run": True}
    write_agrawal_sources(tmp_path / "agrawal", config=agrawal_config(retention=nightly))
    run = runner.invoke(app, ["run", "--config", str(config), "--window-end", "2025-02-24"], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert all(total == trained for total, trained in _samples_by_window(engine).values())
    assert store.latest_runs(engine, "agrawal")["report_uri"].isna().all()


def test_purge_removes_a_persons_rows_and_says_how_many(backfilled):
    config, engine = backfilled
    log = store.failure_log(engine, "agrawal")
    person = log["row_id"].iloc[0]
    theirs = int((log["row_id"] == person).sum())
    args = ["purge", "--config", str(config), "--id", person, "--id", "no-such-id"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0
    assert f"agrawal: removed {theirs} failure sample row(s) of the given id(s)" in result.stdout
    after = store.failure_log(engine, "agrawal")
    assert person not in set(after["row_id"]) and len(after) == len(log) - theirs
    again = runner.invoke(app, args, catch_exceptions=False)
    assert "removed 0 failure sample row(s)" in again.stdout
    assert runner.invoke(app, ["purge", "--config", str(config), "--id", " "]).exit_code == 2
