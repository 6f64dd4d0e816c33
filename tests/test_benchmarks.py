"""The benchmarks still run: a smoke run of each that has one, its last line read as the JSON it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _last_json(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_failure_samples_quick_run_reports_every_kpi_of_each_world_with_and_without():
    out = _last_json("failure_samples.py", "--quick")
    assert out["seeds"] == 2 and out["failure_weight"] == 2.0
    assert set(out["datasets"]) == {"demo", "agrawal", "friedman"}
    expected = {
        "demo": {"accuracy", "roc_auc", "cost"},
        "agrawal": {"accuracy", "roc_auc"},
        "friedman": {"mae", "rmse"},
    }
    for name, world in out["datasets"].items():
        assert set(world) == {
            "seeds",
            "train_rows",
            "failure_samples",
            "later_rows",
            "trigger_windows",
            "kpis",
            "diagnostics",
        }
        assert set(world["kpis"]) == expected[name]
        # The "with" side really had failure samples, and the later windows are the new concept's: the
        # champion trained on the old one is far worse there than either retrained model.
        assert 0 < world["failure_samples"] < world["train_rows"]
        for metric, k in world["kpis"].items():
            assert set(k) == {"direction", "with", "without", "champion", "difference", "ci95", "favour_with",
                              "favour_without", "ties", "seeds"}  # fmt: skip
            assert k["favour_with"] + k["favour_without"] + k["ties"] == k["seeds"] == 2
            assert k["ci95"][0] <= k["difference"] <= k["ci95"][1]
            assert abs(k["difference"] - (k["with"] - k["without"])) < 1e-9
            better = min if k["direction"] == "lower_is_better" else max
            assert better(k["with"], k["champion"]) == k["with"], (name, metric)
