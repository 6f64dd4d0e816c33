"""The reliability suite's bookkeeping: each test names its case of ``expected.TABLE`` with
``@pytest.mark.case("...")`` and checks its observation with ``assert_as_table``; the figures (bad inputs
tried, faults injected, runs lost, ...) are counted by the tests themselves through ``tally`` and printed at the
end of the session, from every xdist worker's counts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.expected import EXIT, TABLE
from tests.reliability.figures import FIGURES, KIND_FIGURE, tally_dir


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
    return Tally(tally_dir(request.config) / f"{worker}.jsonl", marker.args[0])


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
