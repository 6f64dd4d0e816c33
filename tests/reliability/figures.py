"""The reliability suite's figures: what its tests count (``conftest.tally``), gathered from every xdist
worker's file and printed once at the end of the session. The hooks that call ``configure`` and ``summary`` are
in tests/conftest.py: the controller of an xdist run loads only that conftest, not the suite's own."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.expected import NOT_BUILT, TABLE

FIGURES = (
    ("bad_input", "bad inputs tried"),
    ("config", "bad configs tried"),
    ("property", "generated inputs (hypothesis)"),
    ("fault", "faults injected"),
    ("concurrent_runs", "concurrent runs started"),
    ("attack", "attacks tried"),
    ("runs_lost", "runs lost"),
    ("duplicate_results", "duplicate results"),
    ("alerts_lost", "alerts lost"),
    ("alerts_doubled", "alerts doubled"),
    ("secrets_leaked", "secrets leaked"),
)
# One case of these kinds counts once; property and concurrency tests count what they generated or started.
KIND_FIGURE = {"bad_input": "bad_input", "config": "config", "fault": "fault", "security": "attack"}
MUST_BE_ZERO = {"runs_lost", "duplicate_results", "alerts_lost", "alerts_doubled", "secrets_leaked"}


def tally_dir(config: pytest.Config) -> Path:
    return config.rootpath / ".pytest_cache" / "reliability"


def configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "case(id): the row of tests/reliability/expected.py this test proves")
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) starts the count afresh
        shutil.rmtree(tally_dir(config), ignore_errors=True)


def summary(terminalreporter, config: pytest.Config) -> None:  # noqa: ANN001
    folder = tally_dir(config)
    if hasattr(config, "workerinput") or not folder.exists():
        return
    counts: Counter[str] = Counter()
    cases: set[str] = set()
    for path in folder.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            counts[row["figure"]] += row["n"]
            cases.add(row["case"])
    terminalreporter.section("reliability figures (counted by tests/reliability)")
    terminalreporter.write_line(f"cases of the expected-outcome table run: {len(cases)} of {len(TABLE)}")
    if NOT_BUILT:
        terminalreporter.write_line(f"cases not built yet: {', '.join(sorted(NOT_BUILT))}")
    for key, label in FIGURES:
        terminalreporter.write_line(f"{label}: {counts[key]}")
    (folder / "figures.json").write_text(
        json.dumps(
            {
                "cases_run": len(cases),
                "cases": len(TABLE),
                "not_built": sorted(NOT_BUILT),
                **{k: counts[k] for k, _ in FIGURES},
            }
        )
    )
