"""The river concept-drift streams shipped in tests/data, and model configs that monitor them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

DATA = Path(__file__).parent / "data"
AGRAWAL_NUM = ["salary", "commission", "age", "hvalue", "hyears", "loan"]
AGRAWAL_CAT = ["elevel", "car", "zipcode"]
FRIEDMAN_X = [f"x{i}" for i in range(10)]


def agrawal() -> pd.DataFrame:
    df = pd.read_csv(DATA / "agrawal_abrupt_drift_at_10000.csv.gz", parse_dates=["timestamp"])
    df["model_version"] = "tree-v1"
    return df


def friedman() -> pd.DataFrame:
    df = pd.read_csv(DATA / "friedman_gra_drift_at_10000_15000.csv.gz", parse_dates=["timestamp"])
    df["model_version"] = "hgb-v1"
    return df


def agrawal_config(**overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": "agrawal",
        "task": "binary",
        "sources": {
            "predictions": {"path": "predictions.csv"},
            "labels": {"path": "labels.csv", "arrived_at": "labelled_at"},
            "reference": {"path": "reference.csv"},
        },
        "columns": {
            "timestamp": "timestamp",
            "id": "row",
            "model_version": "model_version",
            "numerical": AGRAWAL_NUM,
            "categorical": AGRAWAL_CAT,
            "prediction": "y_pred",
            "probability": "y_pred_proba",
            "target": "y",
        },
        "window": {"length": "1d", "timezone": "UTC"},
        "label_horizon": "4d",
        "volume": {"min_rows": 10},
        "kpis": [{"metric": "accuracy", "target": 0.9, "min_labelled": 20}],
    }
    cfg.update(overrides)
    return cfg


def write_agrawal_sources(folder: Path, label_delay_days: float = 2.0, config: dict[str, Any] | None = None) -> Path:
    """predictions.csv, labels.csv (arriving ``label_delay_days`` later), reference.csv and agrawal.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    df = agrawal()
    preds = df.drop(columns=["y"])
    preds.to_csv(folder / "predictions.csv", index=False)
    labels = df[["row", "y"]].assign(labelled_at=df["timestamp"] + pd.Timedelta(days=label_delay_days))
    labels.to_csv(folder / "labels.csv", index=False)
    df.iloc[5000:10000].to_csv(folder / "reference.csv", index=False)
    path = folder / "agrawal.yaml"
    path.write_text(yaml.safe_dump(config or agrawal_config()))
    return path
