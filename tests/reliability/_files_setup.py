"""A small home of the demo's credit-risk model for the file and reference cases: the demo's config (its
retraining, objectives and review left out: nothing here is about them), two nights of the demo's generated
applicants scored by the demo's own default rule, their labels, and a reference; the first night is run clean
and stored. Built once per module as a template and copied for each test (``Home``)."""

from __future__ import annotations

import ctypes
import json
import shutil
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from driftwarden.config.settings import get_settings
from driftwarden.flows.cli.app import app
from driftwarden.flows.demo import data as demo

ROOT = Path(__file__).resolve().parents[2]
TZ = "Europe/Berlin"
CLEAN_END = "2026-10-02"
"""The clean first night, stored in the template."""
BAD_END = "2026-10-03"
"""The second night: the window each case runs."""
BAD_NIGHT = "2026-10-02"
"""The file name stem of the second night's files."""
ROWS = 400
"""Applicants a night, on average: drift is judged from 300 rows on."""
runner = CliRunner()


def scored(x: pd.DataFrame) -> pd.DataFrame:
    """Applicants with the demo's default probability as the model's score (no model to train)."""
    p = demo.default_probability(x)
    return x.assign(default_probability=p.round(4), predicted_default=(p >= 0.5).astype(int), model_version="v1")


def demo_model_config() -> dict[str, Any]:
    cfg = yaml.safe_load((ROOT / "config" / "credit_risk.yaml").read_text())
    for key in ("retrain", "objectives", "review", "failures"):
        cfg.pop(key, None)
    cfg["sources"] = {
        "predictions": {"path": "p/*.parquet"},
        "labels": {"path": "l/*.parquet", "arrived_at": "labelled_at"},
        "reference": {"path": "reference.parquet"},
    }
    cfg["volume"] = {"min_rows": 100}
    cfg["kpis"] = [{"metric": "accuracy", "target": 0.6, "min_labelled": 50}]
    return cfg


def build_template(root: Path) -> Path:
    """The model's files under ``root/m`` and its home under ``root/home`` with the first night stored."""
    folder = root / "m"
    (folder / "p").mkdir(parents=True)
    (folder / "l").mkdir()
    rng = np.random.default_rng(3)
    ref = scored(demo.applicants(rng, 1000))  # CBPE is fitted on at least 500 labelled rows
    ref["defaulted"] = (rng.uniform(size=len(ref)) < demo.default_probability(ref)).astype(int)
    ref.to_parquet(folder / "reference.parquet", index=False)
    for night in (1, 2):
        preds, labels = demo.night_batch(night, rng, TZ, rows=ROWS)
        stamp = f"2026-10-{night:02d}"
        scored(preds).to_parquet(folder / "p" / f"{stamp}.parquet", index=False)
        labels.to_parquet(folder / "l" / f"{stamp}.parquet", index=False)
    (folder / "credit_risk.yaml").write_text(yaml.safe_dump(demo_model_config(), sort_keys=False))
    home = Home(root)
    with pytest.MonkeyPatch.context() as mp:
        home.enter(mp)
        first = home.run(CLEAN_END)
        assert first.exit_code == 0 and first.summary["status"] == "ok", first.output
    get_settings.cache_clear()
    return root


@dataclass
class Ran:
    exit_code: int
    summary: dict[str, Any]
    """The run's JSON summary (the bad window's)."""
    output: str
    stderr: str
    warned: list[str]
    """Warnings raised (by any thread) while it ran."""

    @property
    def message(self) -> str:
        """The run's error and its summary, as stored."""
        return f"{self.summary.get('error') or ''}\n{self.summary.get('summary') or ''}"


class Home:
    """A copy of the template: the model's folder ``m`` and its driftwarden home ``home``."""

    baseline: dict[str, Any]

    def __init__(self, root: Path) -> None:
        self.root, self.folder, self.config = root, root / "m", root / "m" / "credit_risk.yaml"

    @classmethod
    def copy_of(cls, template: Path, where: Path, mp: pytest.MonkeyPatch) -> Home:
        shutil.copytree(template, where)
        home = cls(where)
        home.enter(mp)
        home.baseline = home.stored()
        return home

    def enter(self, mp: pytest.MonkeyPatch) -> None:
        mp.setenv("DRIFTWARDEN_HOME", str(self.root / "home"))
        mp.delenv("DRIFTWARDEN_STORE_URL", raising=False)
        get_settings.cache_clear()

    def night(self, stem: str = BAD_NIGHT) -> pd.DataFrame:
        return pd.read_parquet(self.folder / "p" / f"{stem}.parquet")

    def edit(self, **sources: dict[str, Any]) -> None:
        """Replace sources of the config (``predictions={"path": ..., "reader": ...}``)."""
        cfg = yaml.safe_load(self.config.read_text())
        cfg["sources"].update(sources)
        self.config.write_text(yaml.safe_dump(cfg, sort_keys=False))

    def run(self, end: str = BAD_END) -> Ran:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            result = runner.invoke(app, ["run", "--config", str(self.config), "--window-end", end, "--json"])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        return Ran(
            result.exit_code,
            lines[-1] if lines else {},
            result.output,
            result.stderr,
            [f"{w.category.__name__}: {w.message}" for w in seen],
        )

    def stored(self) -> dict[str, Any]:
        """Every stored run (but the time label catch-up last looked at it) with its metrics, by id."""
        with sqlite3.connect(self.root / "home" / "store.db") as con:
            con.row_factory = sqlite3.Row
            runs = {
                r["id"]: {k: r[k] for k in r.keys() if k != "labels_checked_at"}
                for r in con.execute("select * from runs")
            }
            for rid in runs:
                rows = con.execute("select * from metrics where run_id = ? order by id", (rid,)).fetchall()
                runs[rid]["metrics"] = [tuple(r) for r in rows]
        return runs

    def earlier_unchanged(self) -> bool:
        """Every run stored before the case (the template's clean night) is still there as it was."""
        after = self.stored()
        return bool(self.baseline) and all(after.get(rid) == row for rid, row in self.baseline.items())


_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


@contextmanager
def without_file_override() -> Iterator[None]:
    """This thread (and the threads it starts) without root's power to read any file (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH out of the effective set): file permissions then hold for root as for anyone, as they
    do for the non-root account a scheduler runs driftwarden under. Back on the way out."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    saved = data[0].effective
    data[0].effective = saved & ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH))
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    try:
        yield
    finally:
        data[0].effective = saved
        if libc.capset(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capset")
