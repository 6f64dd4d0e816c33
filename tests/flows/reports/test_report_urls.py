"""Reports written to an fsspec URL instead of a local folder (several machines can share them)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime

import fsspec
import pytest
from typer.testing import CliRunner

from driftwarden.config.loader import load_model_config
from driftwarden.config.settings import get_settings
from driftwarden.flows import files as report_files
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.store import retention
from tests.streams import agrawal_config, write_agrawal_sources

runner = CliRunner()


def test_url_paths_are_joined_as_urls():
    page = report_files.join("s3://bucket/reports", "credit_risk", "20261001T0000-x.html")
    assert page == "s3://bucket/reports/credit_risk/20261001T0000-x.html"
    assert report_files.sibling(page, "y.html") == "s3://bucket/reports/credit_risk/y.html"
    assert (report_files.name(page), report_files.stem(page)) == ("20261001T0000-x.html", "20261001T0000-x")
    assert report_files.join("/srv/reports", "m") == "/srv/reports/m"


@pytest.mark.slow
def test_runs_write_rescore_and_prune_reports_at_a_memory_url(tmp_path, dw_home, monkeypatch):
    base = f"memory://dw-reports-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DRIFTWARDEN_REPORTS_DIR", base + "/")
    get_settings.cache_clear()
    keep = {"reports": "1d"}
    config = write_agrawal_sources(tmp_path / "agrawal", config=agrawal_config(retention=keep))
    args = ["backfill", "--config", str(config), "--start", "2025-02-19", "--end", "2025-02-23", "--json"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    days = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    fs = fsspec.filesystem("memory")
    for day in days:
        assert day["report"].startswith(f"{base}/agrawal/") and fs.exists(day["report"])
    rescored = [d for d in days if d["trigger"] == "rescore"]
    assert rescored, "labels arrive two days late: earlier windows get a fresh page"
    page = fs.cat_file(rescored[0]["report"]).decode()
    assert "Re-scored as labels arrived" in page
    found = re.search(r'<a href="([^"]+)\.html">first page</a>', page)
    assert found, page  # links to the first run's files: its page, and its Evidently report when it has one
    drawn = fs.exists(report_files.sibling(rescored[0]["report"], found.group(1) + "-evidently.html"))
    assert drawn == ("-evidently.html" in page)
    evidently_pages = [p for p in fs.find(f"{base}/agrawal") if p.endswith("-evidently.html")]
    assert evidently_pages, "the last window replayed has its Evidently report"
    script = re.search(r'<script src="([^"]+)"></script>', fs.cat_file(evidently_pages[0]).decode())
    assert script and fs.exists(f"{base}/agrawal/{script.group(1)}")  # the shared scripts, at the same URL base

    engine = store.open_store(get_settings().resolved_store_url())
    pruned = retention.prune(engine, load_model_config(config), now=datetime(2030, 1, 1))
    assert pruned.files > pruned.reports > 0
    left = fs.find(f"{base}/agrawal")
    # Evidently's shared scripts stay for later pages; the model page and the post-mortems are drawn from what
    # the store keeps (runs and metrics stay), so they stay too
    kept = ("/agrawal/assets/", "/agrawal/postmortems/", "/agrawal/model.html")
    assert all(any(k in p for k in kept) for p in left), left


@pytest.mark.slow
def test_a_file_url(tmp_path, dw_home, monkeypatch):
    monkeypatch.setenv("DRIFTWARDEN_REPORTS_DIR", f"file://{tmp_path / 'shared'}")
    get_settings.cache_clear()
    config = write_agrawal_sources(tmp_path / "agrawal")
    args = ["run", "--config", str(config), "--window-end", "2025-02-21", "--json"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])["report"]
    assert report.startswith(f"file://{tmp_path / 'shared' / 'agrawal'}/")
    assert (tmp_path / "shared" / "agrawal" / report.rsplit("/", 1)[1]).exists()
