"""The review of a period: the CLI (markdown and JSON, periods it refuses) and the review-model flow, whose
report goes through the model's channels as a report, not an alert."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from driftwarden.flows.cli.app import app
from driftwarden.flows.review.flow import review_model
from tests.streams import agrawal_config, write_agrawal_sources

OBJECTIVE = {"objective": "Keep approving well", "key_results": [{"kpi": "accuracy"}], "success": 0.7}


def test_a_review_before_any_run_counts_nothing_and_goes_out_as_a_report(dw_home, tmp_path):
    config = agrawal_config(
        alerts={"channels": {"log": {"type": "file", "path": "alerts.jsonl"}}},
        objectives=[OBJECTIVE],
        review={"schedule": "0 8 * * 1"},
    )
    path = write_agrawal_sources(tmp_path / "agrawal", config=config)
    runner = CliRunner()
    shown = runner.invoke(app, ["review", "--config", str(path), "--week", "2026-W43", "--json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    [kr] = doc["objectives"][0]["key_results"]
    assert doc["period"] == "2026-W43" and kr["attainment"] is None and kr["evaluated"] == 0
    assert len(kr["not_evaluated"]) == 7 and {w["level"] for w in kr["not_evaluated"]} == {"missing"}
    text = runner.invoke(app, ["review", "--config", str(path), "--quarter", "2026-Q4"]).stdout
    assert "review of 2026-Q4" in text and "no evaluated window" not in text  # a weekly objective, not quarterly
    bad = runner.invoke(app, ["review", "--config", str(path), "--week", "2026-Q4"])
    assert bad.exit_code == 2 and "not a week" in bad.output
    done = review_model.fn(str(path), period="2026-W43")
    assert done["period"] == "2026-W43" and done["sent"] == 1 and done["path"].endswith("reviews/2026-W43.md")
    [line] = (path.parent / "alerts.jsonl").read_text().splitlines()
    sent = json.loads(line)
    assert sent["kind"] == "report" and sent["conditions"] == [] and "review of 2026-W43" in sent["title"]
    assert "## Key results" in sent["text"]
