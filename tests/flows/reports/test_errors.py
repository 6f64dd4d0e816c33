"""``driftwarden errors`` on generated sources: the slice that carries the mistakes, read back from the sources."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from typer.testing import CliRunner

from driftwarden.flows.cli.app import app
from tests.checks.test_slices import world

runner = CliRunner()


def write_sources(folder: Path) -> Path:
    rows = world(11, windows=8, per_window=700).drop(columns=["ssn_digits"])
    rng = np.random.default_rng(0)
    rows["ts"] = rows.pop("__window__") + pd.to_timedelta(rng.uniform(0, 86_000, len(rows)), unit="s")
    rows["model_version"] = "v1"
    rows["row"] = [f"r{i}" for i in range(len(rows))]
    folder.mkdir(parents=True, exist_ok=True)
    rows.drop(columns=["y"]).to_csv(folder / "predictions.csv", index=False)
    labels = rows[["row", "y"]].assign(labelled_at=rows["ts"] + pd.Timedelta(days=1))
    labels.to_csv(folder / "labels.csv", index=False)
    rows.iloc[:500].to_csv(folder / "reference.csv", index=False)
    config = {
        "name": "loans",
        "task": "binary",
        "sources": {
            "predictions": {"path": "predictions.csv"},
            "labels": {"path": "labels.csv", "arrived_at": "labelled_at"},
            "reference": {"path": "reference.csv"},
        },
        "columns": {
            "timestamp": "ts",
            "id": "row",
            "model_version": "model_version",
            "numerical": ["income", "age"],
            "categorical": ["employment", "region"],
            "prediction": "pred",
            "probability": "proba",
            "target": "y",
        },
        "failures": {"mask": ["age"]},
    }
    path = folder / "loans.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_errors_reads_the_sources_and_shows_the_slice(tmp_path: Path, dw_home: Path) -> None:
    path = write_sources(tmp_path / "src")
    result = runner.invoke(app, ["errors", "--config", str(path), "--since", "2026-10-01", "--until", "2026-10-12"])
    assert result.exit_code == 0, result.output
    assert "model version v1: learned on the 4 older windows" in result.output
    assert "employment = contract" in result.output and "dropped" in result.output
    assert "age" not in result.output.replace("usage", "")  # masked: never a rule, never a driver
    as_json = runner.invoke(
        app, ["errors", "-c", str(path), "--since", "2026-10-01", "--until", "2026-10-12", "--json"]
    )
    doc = json.loads(as_json.output.splitlines()[0])
    assert doc["version"] == "v1" and doc["slices"][0]["lower"] > 1 and doc["check_rows"] == 4 * 700


def test_errors_names_the_option_it_cannot_use(tmp_path: Path, dw_home: Path) -> None:
    path = write_sources(tmp_path / "src")
    bad = runner.invoke(app, ["errors", "--config", str(path), "--since", "1/10/2026"])
    assert bad.exit_code == 2 and "--since" in bad.output
    missing = runner.invoke(
        app, ["errors", "-c", str(path), "--since", "2026-10-01", "--until", "2026-10-12", "--version", "7"]
    )
    assert missing.exit_code == 2 and "--version 7" in missing.output and "v1" in missing.output
    empty = runner.invoke(app, ["errors", "-c", str(path), "--since", "2025-01-01", "--until", "2025-01-09"])
    assert empty.exit_code == 1 and "no labelled rows" in empty.output
