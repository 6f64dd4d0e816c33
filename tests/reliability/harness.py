"""A small credit-risk model (the demo's applicants and columns) with a clean night already monitored, prepared
once and copied for each case: the bad night is written over the prepared files, run through the real CLI, and
what was stored before is compared afterwards."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.demo.data import CATEGORICAL, NUMERICAL, applicants, default_probability

TZ = "Europe/Berlin"
NIGHT1 = pd.Timestamp("2026-10-01", tz=TZ)
"""The clean night stored before each case."""
NIGHT2 = pd.Timestamp("2026-10-02", tz=TZ)
"""The night each case breaks."""
ROWS = 400
CLASSES = ["low", "medium", "high"]
runner = CliRunner()


def _config(task: str) -> dict[str, Any]:
    columns: dict[str, Any] = {
        "timestamp": "scored_at",
        "id": "application_id",
        "numerical": NUMERICAL,
        "categorical": CATEGORICAL,
        "target": "defaulted" if task == "binary" else "risk",
    }
    if task == "binary":
        columns |= {"prediction": "predicted_default", "probability": "default_probability", "positive_label": 1}
    else:
        columns |= {"prediction": "predicted_risk", "probabilities": {c: f"p_{c}" for c in CLASSES}}
    return {
        "name": f"credit_{task}",
        "task": task,
        "sources": {
            "predictions": {"path": "predictions/*.parquet"},
            "labels": {"path": "labels.parquet", "arrived_at": "labelled_at"},
            "reference": {"path": "reference.parquet"},
        },
        "columns": columns,
        "window": {"length": "1d", "timezone": TZ},
        "label_horizon": "2d",
        "volume": {"min_rows": 100, "min_share_of_recent": 0.2},
        "validation": {"range_iqr_k": 3.0, "range_mostly": 0.99, "unseen_category_share": 0.05, "null_tolerance": 0.05},
        "kpis": [{"metric": "accuracy", "target": 0.5, "min_labelled": 100}],
        # what these cases never look at, left out to keep them quick
        "drift": {"multivariate": False},
        "estimation": {"enabled": False},
    }


def _scored(x: pd.DataFrame, task: str, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.Series]:
    """The model's outputs beside its inputs (the demo's default probability is the model), and the truth."""
    p = default_probability(x)
    out = x.copy()
    if task == "binary":
        out["default_probability"] = p.round(4)
        out["predicted_default"] = (p >= 0.5).astype(int)
        truth = pd.Series((rng.uniform(size=len(x)) < p).astype(int))
        return out, truth
    edges = np.stack([(1 - p) ** 2, 2 * p * (1 - p), p**2], axis=1)  # three risk classes that sum to 1
    for i, c in enumerate(CLASSES):
        out[f"p_{c}"] = edges[:, i].round(4)
    out[f"p_{CLASSES[-1]}"] = (1 - out[f"p_{CLASSES[0]}"] - out[f"p_{CLASSES[1]}"]).round(4)
    out["predicted_risk"] = np.array(CLASSES)[edges.argmax(axis=1)]
    drawn = [rng.choice(CLASSES, p=row / row.sum()) for row in edges]
    return out, pd.Series(drawn)


def night(night_start: pd.Timestamp, task: str = "binary", seed: int = 0, rows: int = ROWS) -> pd.DataFrame:
    """One night's predictions (UTC times) with its true labels in ``_truth``."""
    rng = np.random.default_rng(seed)
    x = applicants(rng, rows)
    out, truth = _scored(x, task, rng)
    span = ((night_start + pd.Timedelta(days=1)) - night_start).total_seconds()
    ts = night_start + pd.to_timedelta(np.sort(rng.uniform(0, span, rows)), unit="s")
    out.insert(0, "scored_at", ts.tz_convert("UTC"))
    out.insert(1, "application_id", [f"{night_start:%m%d}-{i:05d}" for i in range(rows)])
    out["_truth"] = truth.to_numpy()
    return out


@dataclass
class Model:
    """A copy of a prepared model: its folder (config, sources) and driftwarden home (store, reports)."""

    root: Path
    task: str

    @property
    def config(self) -> Path:
        return self.root / "data" / "model.yaml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def name(self) -> str:
        return f"credit_{self.task}"

    def predictions(self, when: pd.Timestamp = NIGHT2) -> pd.DataFrame:
        """The clean predictions of a night, as written."""
        return pd.read_parquet(self.data / "predictions" / f"{when:%Y-%m-%d}.parquet")

    def write(self, frame: pd.DataFrame, when: pd.Timestamp = NIGHT2, fmt: str = "parquet") -> Path:
        """The night's predictions replaced by ``frame``, as Parquet (pyarrow) or CSV (the whole glob then
        switches to CSV: the other nights are rewritten as CSV too)."""
        folder = self.data / "predictions"
        if fmt == "csv":
            for other in folder.glob("*.parquet"):
                pd.read_parquet(other).to_csv(other.with_suffix(".csv"), index=False)
                other.unlink()
            self.edit(lambda c: c["sources"]["predictions"].update(path="predictions/*.csv"))
        path = folder / f"{when:%Y-%m-%d}.{fmt}"
        for old in folder.glob(f"{when:%Y-%m-%d}.*"):
            old.unlink()
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        return path

    def edit(self, change: Any) -> None:
        cfg = yaml.safe_load(self.config.read_text())
        change(cfg)
        self.config.write_text(yaml.safe_dump(cfg))

    def run(self, window_end: str, *extra: str) -> tuple[int, dict[str, Any], str, str]:
        """``driftwarden run`` as a user types it: its exit code, its JSON line for the window (the last),
        what it printed on stdout, and on stderr (in-process, Prefect's own log of a failed flow adds its
        traceback to stderr, which a real run's log level keeps out of a user's terminal)."""
        result = runner.invoke(app, ["run", "--config", str(self.config), "--window-end", window_end, "--json", *extra])
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result.exit_code, (lines[-1] if lines else {}), result.stdout, result.stderr

    def stored(self) -> pd.DataFrame:
        """Every stored version of every window, oldest first, with its metrics as a sorted list."""
        engine = store.open_store(get_settings().resolved_store_url())
        rows = []
        for start in (NIGHT1, NIGHT2):
            versions = store.all_versions(engine, self.name, store.utc(start))
            for _, v in versions.iterrows():
                metrics = store.run_metrics(engine, [int(v["id"])])
                keep = metrics.drop(columns=[c for c in ("id", "run_id") if c in metrics.columns])
                rows.append({**v.to_dict(), "metrics": keep.astype(str).sort_values(list(keep.columns)).to_numpy()})
        engine.dispose()
        return pd.DataFrame(rows)

    def earlier(self) -> list[tuple[Any, ...]]:
        """The stored result of the clean night: each version's status, findings, summary and metrics."""
        seen = self.stored()
        first = seen[seen["window_start"] == store.utc(NIGHT1)]
        return [
            (r["run_version"], r["status"], r["superseded"], r["summary"], str(r["findings"]), r["metrics"].tolist())
            for _, r in first.iterrows()
        ]

    def latest(self) -> dict[str, Any]:
        """The newest stored version of the broken night."""
        seen = self.stored()
        return seen[seen["window_start"] == store.utc(NIGHT2)].iloc[-1].to_dict()


def prepare(folder: Path, task: str, clean: bool = True) -> dict[str, Any]:
    """The model's files and home with night 1 monitored, and (``clean``) the JSON of a clean run of night 2,
    run in a throwaway copy: the verdict a case's night must match when its changes should not matter."""
    data = folder / "data"
    (data / "predictions").mkdir(parents=True)
    rng = np.random.default_rng(11)
    ref, truth = _scored(applicants(rng, 3000), task, rng)
    ref[_config(task)["columns"]["target"]] = truth.to_numpy()
    ref.to_parquet(data / "reference.parquet", index=False)
    labels = []
    for i, start in enumerate((NIGHT1, NIGHT2)):
        frame = night(start, task, seed=100 + i)
        target = _config(task)["columns"]["target"]
        labels.append(
            pd.DataFrame(
                {
                    "application_id": frame["application_id"],
                    target: frame["_truth"],
                    "labelled_at": frame["scored_at"] + pd.Timedelta(hours=1),
                }
            )
        )
        frame.drop(columns=["_truth"]).to_parquet(data / "predictions" / f"{start:%Y-%m-%d}.parquet", index=False)
    pd.concat(labels, ignore_index=True).to_parquet(data / "labels.parquet", index=False)
    cfg = _config(task)
    # Every copy reads the template's reference file itself: the same file is the same stored profile, never
    # computed again for a copy.
    cfg["sources"]["reference"]["path"] = str((data / "reference.parquet").resolve())
    (data / "model.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DRIFTWARDEN_HOME", str(folder / "home"))
        mp.delenv("DRIFTWARDEN_STORE_URL", raising=False)
        get_settings.cache_clear()
        code, first, out, _ = Model(folder, task).run("2026-10-02")
        assert code == 0 and first["status"] == "ok", out
        if not clean:
            get_settings.cache_clear()
            return first
        trial = folder.parent / f"{folder.name}-clean"
        shutil.copytree(folder, trial)
        mp.setenv("DRIFTWARDEN_HOME", str(trial / "home"))
        get_settings.cache_clear()
        code, clean, out, _ = Model(trial, task).run("2026-10-03")
        assert code == 0 and clean["status"] == "ok", out
    get_settings.cache_clear()
    shutil.rmtree(trial)
    return clean


def copy_of(template: Path, task: str, to: Path, monkeypatch: pytest.MonkeyPatch) -> Model:
    """A fresh copy of the prepared model, its home the current driftwarden home."""
    shutil.copytree(template, to)
    monkeypatch.setenv("DRIFTWARDEN_HOME", str(to / "home"))
    monkeypatch.delenv("DRIFTWARDEN_STORE_URL", raising=False)
    get_settings.cache_clear()
    return Model(to, task)
