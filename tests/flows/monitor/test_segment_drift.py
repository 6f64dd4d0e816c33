"""Drift per segment in a monitoring run: stored as ``segment_drift`` rows and shown on the run page, without
changing any window's verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.monitor.tasks import _has_segments, _segments_key
from tests.streams import START, write_stream

runner = CliRunner()
DAY = pd.Timedelta(days=1)


def backfill(config: Path, windows: int) -> list[dict]:
    end = (START + windows * DAY).isoformat()
    result = runner.invoke(
        app, ["backfill", "--config", str(config), "--start", START.isoformat(), "--end", end, "--json"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_a_run_with_segments_stores_their_drift_and_keeps_the_verdict(tmp_path, dw_home):
    plain = write_stream(tmp_path, DAY, DAY, (0.1, 0.5), windows=3, rows=900)
    preds = pd.read_csv(tmp_path / "predictions.csv", parse_dates=["ts"])
    late = (preds["ts"] >= START + 2 * DAY) & (preds["c"] == "b")
    preds.loc[late, "x2"] += 1.5  # one feature of one segment value moves in the last two windows
    rng = np.random.default_rng(0)
    preds["channel"] = rng.choice(["web", "app"], len(preds))  # a segment column that is no feature
    preds.to_csv(tmp_path / "predictions.csv", index=False)
    ref = pd.read_csv(tmp_path / "reference.csv")
    ref.assign(channel=rng.choice(["web", "app"], len(ref))).to_csv(tmp_path / "reference.csv", index=False)
    cfg = yaml.safe_load(plain.read_text())
    seg = tmp_path / "segmented.yaml"
    declared = {"segments": ["c", "channel"], "drift": {"segment_min_rows": 100}}
    seg.write_text(yaml.safe_dump({**cfg, "name": "segmented", **declared}))

    without, with_ = backfill(plain, 3), backfill(seg, 3)
    assert [(d["status"], d["causes"], d["summary"]) for d in without] == [
        (d["status"], d["causes"], d["summary"]) for d in with_
    ]

    engine = store.open_store(get_settings().resolved_store_url())
    runs = store.latest_runs(engine, "segmented")
    rows = store.run_metrics(engine, [int(i) for i in runs["id"]], kind="segment_drift")
    rows = rows.merge(runs[["id", "window_start"]], left_on="run_id", right_on="id")
    assert set(rows["segment"]) == {"c=a", "c=b", "c=c", "channel=web", "channel=app"}
    assert set(rows[rows["segment"].str.startswith("c=")]["column"]) == {"x1", "x2"}
    assert set(rows[rows["segment"].str.startswith("channel=")]["column"]) == {"x1", "x2", "c"}
    hit = rows[(rows["passed"] == False) & rows["segment"].str.startswith("c=")]  # noqa: E712 (booleans from the store)
    assert set(zip(hit["segment"], hit["column"], strict=True)) == {("c=b", "x2")}
    assert set(hit["window_start"]) == {store.utc(START + 2 * DAY)}
    assert store.run_metrics(engine, [int(i) for i in store.latest_runs(engine, "shapes")["id"]],
                             kind="segment_drift").empty  # fmt: skip

    page = Path(with_[-1]["report"].removeprefix("file://")).read_text()
    assert "Drift per segment" in page and "Inputs drifted in c=b (x2)" in page
    model = (Path(with_[-1]["report"].removeprefix("file://")).parent / "model.html").read_text()
    table = model[model.index("<h3>Drift per segment</h3>") :]
    assert "<td>c=b</td>" in table and "<td>x2</td>" in table and "2 of 2" in table


def test_declaring_segments_makes_a_new_reference_and_an_old_profile_is_rebuilt() -> None:
    base = {
        "name": "m", "task": "binary",
        "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
        "columns": {"timestamp": "ts", "id": "id", "numerical": ["x"], "categorical": ["c"], "prediction": "y_pred",
                    "target": "y"},
    }  # fmt: skip
    plain = ModelConfig.model_validate(base)
    segmented = ModelConfig.model_validate({**base, "segments": ["c"]})
    assert _segments_key(plain) == "" and _segments_key(segmented) != ""  # no new version for a model without
    capped = ModelConfig.model_validate({**base, "segments": ["c"], "drift": {"segment_values": 5}})
    assert _segments_key(capped) != _segments_key(segmented)
    old = {"rows": 10, "numeric": {}, "categorical": {}}  # stored before per-segment profiles
    assert _has_segments(plain, old) and not _has_segments(segmented, old)
    assert _has_segments(segmented, {**old, "segments": {"c": {"values": {}}}})
