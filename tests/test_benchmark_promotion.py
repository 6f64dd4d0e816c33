"""The promotion benchmark's quick run: its JSON has every figure, and the holdout's veto only takes away."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_promotion_quick_run_reports_both_rules_and_the_shadow_sweep():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "promotion.py"), "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(out) == {"setup", "results", "seconds"}
    cells = out["results"]["0.82"]["500"]
    rules = {"old@0.0", "old@0.01", "new@0.0", "new@0.01"}
    for case in ("equal", "gain"):
        c = cells[case]
        assert rules | {"shadow_rows@0.01", "shadow_alone@0.01", "shadow_rows@0.0"} <= set(c)
        assert c["fired"] > 0 and 0.5 < c["agreement"] < 1 and c["shadow_rows"] == 3000
        assert set(c["shadow_rows@0.01"]) == {"500", "1000", "2000", "3000", "4000"}
        for m in ("0.0", "0.01"):
            # The veto only takes away: the rule never promotes more than the shadow's test alone, same rows.
            for k, v in c[f"shadow_rows@{m}"].items():
                assert v["rate"] <= c[f"shadow_alone@{m}"][k]["rate"]
        # a margin only makes the test harder
        assert c["old@0.01"]["rate"] <= c["old@0.0"]["rate"]
