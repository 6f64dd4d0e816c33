"""The river concept-drift streams shipped in tests/data, and model configs that monitor them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

DATA = Path(__file__).parent / "data"
AGRAWAL_NUM = ["salary", "commission", "age", "hvalue", "hyears", "loan"]
AGRAWAL_CAT = ["elevel", "car", "zipcode"]
FRIEDMAN_X = [f"x{i}" for i in range(10)]
START = pd.Timestamp("2026-03-02", tz="UTC")
"""Where generated streams start: a Monday, so that weekly windows start on it."""


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


def write_stream(
    folder: Path,
    length: pd.Timedelta,
    horizon: pd.Timedelta,
    delay: tuple[float, float],
    windows: int,
    rows: int = 240,
    late_share: float = 0.0,
    accuracy_after: float | None = None,
    shift_after: float = 0.0,
    seed: int = 0,
    unseen: tuple[float, ...] = (),
    estimation: bool = True,
) -> Path:
    """``windows`` windows of ``length`` with ``rows`` predictions each; each label arrives a uniform
    ``delay`` (in horizons) after its prediction, ``late_share`` of them 3 horizons late instead. The model is
    right 92% of the time, ``accuracy_after`` in the second half if given (a concept change); ``shift_after``
    moves x1 by that many standard deviations in the second half (one feature of three drifts); ``unseen[i]``
    is the share of window i's rows whose category ``c`` is ``z``, absent from the reference; ``estimation``:
    the KPIs estimated from the probabilities (calibrated on the reference: right 92% of the time whatever they
    say, so an accuracy that falls to ``accuracy_after`` is worse than the estimate, a concept change)."""
    rng = np.random.default_rng(seed)
    n = rows * windows
    at = np.sort(rng.uniform(0, windows, n))
    ts = START + pd.to_timedelta(at * length.total_seconds(), unit="s")

    def frame(k: int, t: Any, acc: np.ndarray) -> pd.DataFrame:
        x1, x2 = rng.normal(0, 1, k), rng.gamma(2.0, 1.0, k)
        c = rng.choice(["a", "b", "c"], k, p=[0.5, 0.3, 0.2])
        p = 1 / (1 + np.exp(-(x1 + 0.3 * x2 - 0.6)))
        pred = (p >= 0.5).astype(int)
        right = rng.uniform(size=k) < acc
        return pd.DataFrame(
            {
                "ts": t,
                "x1": x1,
                "x2": x2,
                "c": c,
                "y_pred": pred,
                "y_pred_proba": p,
                "y": np.where(right, pred, 1 - pred),
            }  # fmt: skip
        )

    acc = np.full(n, 0.92)
    if accuracy_after is not None:
        acc[n // 2 :] = accuracy_after
    preds = frame(n, ts, acc)
    preds.loc[n // 2 :, "x1"] += shift_after
    if unseen:
        share = np.asarray(unseen, dtype=float)[np.minimum(at.astype(int), len(unseen) - 1)]
        preds.loc[rng.uniform(size=n) < share, "c"] = "z"
    preds["row"] = [f"p{i}" for i in range(n)]
    wait = rng.uniform(*delay, n) * horizon.total_seconds()
    late = rng.uniform(size=n) < late_share
    wait[late] = 3 * horizon.total_seconds()
    labels = preds[["row", "y"]].assign(labelled_at=preds["ts"] + pd.to_timedelta(wait, unit="s"))
    reference = frame(3000, START - pd.Timedelta(days=30), np.full(3000, 0.92)).drop(columns=["ts"])
    reference["row"] = [f"ref{i}" for i in range(len(reference))]
    folder.mkdir(parents=True, exist_ok=True)
    preds.drop(columns=["y"]).to_csv(folder / "predictions.csv", index=False)
    labels.to_csv(folder / "labels.csv", index=False)
    reference.to_csv(folder / "reference.csv", index=False)
    config = {
        "name": "shapes",
        "task": "binary",
        "sources": {
            "predictions": {"path": "predictions.csv"},
            "labels": {"path": "labels.csv", "arrived_at": "labelled_at"},
            "reference": {"path": "reference.csv"},
        },
        "columns": {
            "timestamp": "ts",
            "id": "row",
            "numerical": ["x1", "x2"],
            "categorical": ["c"],
            "prediction": "y_pred",
            "probability": "y_pred_proba",
            "target": "y",
        },  # fmt: skip
        "window": {"length": duration_text(length), "timezone": "UTC"},
        "label_horizon": duration_text(horizon),
        "volume": {"min_rows": 10},
        "kpis": [{"metric": "accuracy", "target": 0.8, "min_labelled": 20}],
        "estimation": {"enabled": estimation},
    }
    path = folder / "shapes.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def duration_text(d: pd.Timedelta) -> str:
    """A duration as the config writes it (``6h``, ``7d``)."""
    hours = int(d.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"
