"""The reliability suite's bookkeeping: each test names its case of ``expected.TABLE`` with
``@pytest.mark.case("...")`` and checks its observation with ``assert_as_table``; the figures (bad inputs
tried, faults injected, runs lost, ...) are counted by the tests themselves through ``tally`` and printed at the
end of the session, from every xdist worker's counts."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.expected import EXIT, NOT_BUILT, TABLE

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


def _tally_dir(config: pytest.Config) -> Path:
    return config.rootpath / ".pytest_cache" / "reliability"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "case(id): the row of tests/reliability/expected.py this test proves")
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) starts the count afresh
        shutil.rmtree(_tally_dir(config), ignore_errors=True)


class Tally:
    """Counts of one test, appended to its worker's file (xdist workers share nothing else)."""

    def __init__(self, path: Path, case: str) -> None:
        self.path, self.case = path, case

    def add(self, figure: str, n: int = 1) -> None:
        assert figure in dict(FIGURES), f"unknown figure {figure!r}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps({"case": self.case, "figure": figure, "n": int(n)}) + "\n")


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Tally:
    marker = request.node.get_closest_marker("case")
    assert marker is not None, f"{request.node.nodeid} has no @pytest.mark.case"
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return Tally(_tally_dir(request.config) / f"{worker}.jsonl", marker.args[0])


@dataclass
class Observed:
    """What a test saw, in the table's terms."""

    outcome: str
    message: str = ""
    named: dict[str, str] = field(default_factory=dict)
    """For each thing the table says the message must name, the concrete text (file name, column, key)."""
    exit_code: int | None = None
    causes: tuple[str, ...] = ()
    earlier_unchanged: bool | None = None
    """For runs: every result stored before the case is still there, unchanged."""


def assert_as_table(case: str, seen: Observed, tally: Tally | None = None) -> None:
    exp = TABLE[case]
    if tally is not None and exp.kind in KIND_FIGURE:
        tally.add(KIND_FIGURE[exp.kind])
    assert seen.outcome == exp.outcome, (
        f"{case}: expected {exp.outcome} ({exp.note}), got {seen.outcome}: {seen.message}"
    )
    if seen.exit_code is not None and exp.outcome in EXIT:
        assert seen.exit_code == EXIT[exp.outcome], f"{case}: exit code {seen.exit_code}, expected {EXIT[exp.outcome]}"
    for what in exp.names:
        assert what in seen.named, f"{case}: the test must say which {what} the message has to name"
        assert seen.named[what].lower() in seen.message.lower(), (
            f"{case}: the message does not name the {what} {seen.named[what]!r}: {seen.message}"
        )
    if exp.cause is not None:
        assert exp.cause in seen.causes, f"{case}: cause {exp.cause} not in {seen.causes}: {seen.message}"
    if exp.outcome in ("failed", "breach", "warning") and exp.kind == "bad_input":
        assert seen.earlier_unchanged is True, f"{case}: the test must check that earlier results are unchanged"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    folder = _tally_dir(config)
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
