"""The run page people read: status and cause in words first, then the evidence grouped by check, data escaped,
private columns never named, no script, small. Built from metric rows as the monitor makes them (``records``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from driftwarden.checks import records
from driftwarden.checks.drift import ColumnDrift, DriftResult
from driftwarden.checks.drift.multivariate import MultivariateDrift
from driftwarden.checks.estimation.base import Estimate
from driftwarden.checks.estimation.compare import EstimateCheck
from driftwarden.checks.kpis import KpiResult, KpiValue
from driftwarden.checks.validation import ExpectationOutcome, ValidationResult
from driftwarden.checks.verdict import (
    decide_verdict,
    estimate_findings,
    input_findings,
    kpi_findings,
    multivariate_findings,
)
from driftwarden.checks.volume import VolumeResult
from driftwarden.config.model import ModelConfig
from driftwarden.flows.reports import pages
from tests.flows.reports.browser import opened
from tests.streams import agrawal_config

LABEL = "2025-02-20 00:00:00+00:00 .. 2025-02-21 00:00:00+00:00"
HOSTILE = "</script><b>x"
NOTE = '<p><a href="w-evidently.html">Evidently drift report</a>, on a sample.</p>'


@pytest.fixture(scope="module", autouse=True)
def _flows_share_one_prefect_server():
    """The page is written by plain functions: these tests need no Prefect server (the folder's conftest starts
    one for every flow test, ~15 s)."""


@pytest.fixture(scope="module")
def cfg() -> ModelConfig:
    return ModelConfig.model_validate(agrawal_config(failures={"mask": ["zipcode"]}))


def _kpi(segment: str, value: float, level: Any, note: str = "") -> KpiValue:
    return KpiValue("accuracy", segment, value, value - 0.02, value + 0.02, 0.9, "higher_is_better", 400, level, note)


def _window(cfg: ModelConfig) -> tuple[str, list[dict[str, Any]]]:
    """A broken night: a null share and a masked column's categories fail validation, three features drift (one
    masked, one with a hostile name), a segment named by a hostile category breaches; the summary and rows as
    ``monitor_window`` makes them."""
    volume = VolumeResult(1000, 10, 990.0, False, "1000 rows")
    outcomes = (
        ExpectationOutcome(
            "expect_column_values_to_not_be_null", "salary", False, 0.3, 0.02,
            "salary present (reference null share 0.00%)", 300, 1000, state="new",
        ),
        ExpectationOutcome(
            "expect_column_values_to_be_between", "age", True, 0.0, 0.005, "age within [20, 80]", 0, 1000,
            state="clear",
        ),
        ExpectationOutcome(
            "expect_column_values_to_be_in_set", "zipcode", False, 0.2, 0.01, "zipcode in the 9 known categories",
            200, 1000, state="new",
        ),
        ExpectationOutcome("expect_column_values_to_be_unique", "row", True, 0.0, 0.0, "row unique"),
    )  # fmt: skip
    validation = ValidationResult(False, outcomes, ())
    columns = (
        ColumnDrift("age", "feature", "wasserstein", 0.02, 0.1, False, 1000),
        ColumnDrift(HOSTILE, "feature", "jensenshannon", 0.3, 0.1, True, 1000),
        ColumnDrift("loan", "feature", "wasserstein", 0.5, 0.1, True, 1000),
        ColumnDrift("zipcode", "feature", "jensenshannon", 0.4, 0.1, True, 1000),
        ColumnDrift("y_pred_proba", "prediction", "wasserstein", 0.03, 0.1, False, 1000),
        ColumnDrift("y", "target", "jensenshannon", 0.01, 0.1, False, 1000),
    )
    note = f"3 of 4 features drifted (share 0.75, rule >= 0.80): {HOSTILE}, loan, zipcode"
    drift = DriftResult(columns, 0.75, 0.8, False, note)
    kpis = KpiResult(
        (
            _kpi("all", 0.93, "ok"),
            _kpi(f"car={HOSTILE}", 0.7, "breach", "95% interval wholly beyond the target"),
            _kpi("zipcode=SECRET-ZIP", 0.95, "ok"),
        ),
        400,
        1000,
        0.4,
        False,
    )
    estimate = EstimateCheck(
        Estimate("accuracy", 0.92, 0.9, 0.94, 1000, "cbpe"), 0.9, "higher_is_better", labelled=400, kpi_level="ok"
    )
    joint = MultivariateDrift(2.0, 1.5, 1.4, 1000, True)
    verdict = decide_verdict(
        input_findings(volume, validation, drift)
        + multivariate_findings(joint)
        + kpi_findings(kpis)
        + estimate_findings([estimate], cfg)
    )
    rows = [
        *records.input_metric_rows(volume, validation, drift),
        *records.kpi_metric_rows(kpis),
        *records.estimate_metric_rows([estimate], "the reference: 5,000 rows"),
        *records.multivariate_metric_rows(joint),
    ]
    assert "zipcode" in verdict.summary and verdict.status == "breach"  # what the page must not show
    return verdict.summary, rows


def _section(page: str, key: str) -> str:
    found = re.search(rf'<section id="{key}" class="g (\w+)">(.*?)</section>', page, re.S)
    assert found, key
    return found.group(1) + " " + found.group(2)


def _row(section: str, name: str) -> str:
    found = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*{re.escape(name)}.*?</tr>", section, re.S)
    assert found, name
    return found.group(0)


def test_status_and_cause_first_then_the_evidence_by_check(cfg, tmp_path):
    summary, rows = _window(cfg)
    path = pages.write_page(str(tmp_path / "w.html"), cfg, LABEL, summary, rows, NOTE)
    page = Path(path).read_text()
    size = len(page.encode())
    print(f"run page: {size} bytes")
    assert size < 20_000, size

    evidence = page.index("<h2>Evidence</h2>")
    assert 'class="s-breach"' in page and page.index("Breach") < evidence
    assert page.index("The data broke its validation rules") < evidence  # the cause, in words
    assert page.index("What was found") < evidence
    assert evidence < page.index(NOTE) < page.index("<section"), "the Evidently link heads the evidence"
    for key in ("kpis", "estimates", "volume", "validation", "drift", "joint", "outputs"):
        assert f'href="#{key}"' in page  # the strip of checks links to each group

    validation = _section(page, "validation")
    assert validation.startswith("fail") and "2 of 4 rules failed" in validation
    salary = _row(validation, "salary")
    assert 'class="bad"' in salary or "class=bad" in salary
    assert "failed (new)" in salary and "30%" in salary and "300 of 1,000" in salary
    assert "values present (the reference had 0.00% missing)" in salary

    drift = _section(page, "drift")
    assert drift.startswith("warn") and "3 of 4 features drifted" in drift and "80%" in drift
    loan = _row(drift, "loan")
    assert "class=bad" in loan and "drifted" in loan
    order = [drift.index(name) for name in ("loan", "&lt;/script&gt;", "age")]
    assert order == sorted(order), "drifted first, the furthest beyond its threshold on top"

    assert _section(page, "kpis").startswith("warn")  # overall met, a segment breached
    assert _section(page, "joint").startswith("warn")
    assert "0.920" in _section(page, "estimates") and "the reference: 5,000 rows" in page


def test_data_is_escaped_private_columns_unnamed_and_no_script(cfg, tmp_path):
    summary, rows = _window(cfg)
    page = Path(pages.write_page(str(tmp_path / "w.html"), cfg, LABEL, summary, rows, NOTE)).read_text()
    assert HOSTILE not in page and "<b>x" not in page
    assert "&lt;/script&gt;&lt;b&gt;x" in _section(page, "drift")
    assert f"car={HOSTILE}".replace("<", "&lt;").replace(">", "&gt;") in _section(page, "kpis")
    assert "<script" not in page.lower() and "javascript:" not in page.lower()
    assert "zipcode" not in page and "SECRET-ZIP" not in page  # masked: not in tables, segments, nor the summary
    assert "1 masked or excluded column" in _section(page, "drift")
    assert "2 of 4 rules failed, in salary and a masked column" in _section(page, "validation")


def test_a_quiet_night_and_a_page_without_rows(cfg, tmp_path):
    volume = VolumeResult(1000, 10, 990.0, False, "1000 rows")
    age = ColumnDrift("age", "feature", "wasserstein", 0.02, 0.1, False, 1000, bound=0.05, bound_threshold=0.1)
    drift = DriftResult((age,), 0.0, 0.3, False, "0 of 1 features drifted (share 0.00, rule >= 0.30)")
    verdict = decide_verdict(input_findings(volume, None, drift))
    rows = records.input_metric_rows(volume, None, drift)
    page = Path(pages.write_page(str(tmp_path / "ok.html"), cfg, LABEL, verdict.summary, rows, "")).read_text()
    assert 'class="s-ok"' in page and "What was found" not in page
    assert "No feature drifted (1 checked)" in page and "1,000 rows, as expected" in page

    bare = Path(pages.write_page(str(tmp_path / "bare.html"), cfg, "a window", "ok", [], "")).read_text()
    assert "No checks were recorded" in bare and "a window" in bare

    failed = pages.write_page(str(tmp_path / "f.html"), cfg, LABEL, "FAILED: the source is gone", [], "")
    assert 'class="s-failed"' in Path(failed).read_text()


def test_readable_on_a_phone(cfg, tmp_path):
    """In Chromium at a phone's width: nothing loads from elsewhere, nothing complains, and the page itself
    does not scroll sideways (a wide table scrolls in its own box)."""
    summary, rows = _window(cfg)
    path = Path(pages.write_page(str(tmp_path / "w.html"), cfg, LABEL, summary, rows, NOTE))
    with opened(path, "run-page-phone", width=390) as seen:
        width = seen.page.evaluate("document.documentElement.scrollWidth")
    assert not seen.errors and seen.external(path.resolve().as_uri()) == [], (seen.errors, seen.requests)
    assert width <= 390, width


def _stored(rows: list[dict[str, Any]], run_id: int) -> list[dict[str, Any]]:
    """Rows as the re-score reads them back from the store (``store.run_metrics``): with their id and run."""
    return [
        {"id": run_id * 100 + i, "run_id": run_id, "column": None, "segment": None, **m} for i, m in enumerate(rows)
    ]


def _estimates(realized: tuple[float, float], labelled: int) -> list[dict[str, Any]]:
    checks = [
        EstimateCheck(
            Estimate(name, 0.9, 0.88, 0.92, 1000, "cbpe"), 0.8, "higher_is_better",
            on_labelled=Estimate(name, 0.9, 0.88, 0.92, labelled, "cbpe"), realized=value, labelled=labelled,
            mature=True, kpi_level="breach",
        )
        for name, value in zip(("accuracy", "roc_auc"), realized, strict=True)
    ]  # fmt: skip
    return records.estimate_metric_rows(checks, "the reference: 5,000 rows")


def test_a_rescored_window_shows_each_check_once(cfg, tmp_path):
    """A re-score hands the page its own rows (KPIs, estimates, target drift of the labels known now) and the
    rows stored for the version it re-scores, estimates and target drift among them: each check is shown once,
    the re-score's; a stored row of a check the re-score did not redo (volume, input drift) stays."""
    volume = VolumeResult(1000, 10, 990.0, False, "1000 rows")

    def target(method: str, value: float | None, drifted: bool | None, rows: int, note: str = "") -> DriftResult:
        age = ColumnDrift("age", "feature", "wasserstein", 0.02, 0.1, False, 1000)
        y = ColumnDrift("y", "target", method, value, 0.1 if value is not None else None, drifted, rows, note)
        return DriftResult((age, y), 0.0, 0.3, False, "0 of 1 features drifted")

    roc_auc = KpiValue("roc_auc", "all", 0.705, 0.68, 0.73, 0.9, "higher_is_better", 400, "breach")
    kpis = KpiResult((_kpi("all", 0.692, "breach"), roc_auc), 400, 1000, 0.4, True)
    unlabelled = target("jensenshannon", None, None, 0, "not evaluated: 0 rows < min_rows 300")
    first = [*records.input_metric_rows(volume, None, unlabelled), *_estimates((0.690, 0.700), 300)]  # no labels yet
    earlier = _stored(first, 7)
    own = [
        *records.kpi_metric_rows(kpis),
        *records.target_metric_rows(target("chisquare", 0.01, False, 400)),  # another method at more rows
        *_estimates((0.692, 0.705), 400),
    ]
    summary = decide_verdict(kpi_findings(kpis)).summary
    rows = [*own, *[m for m in earlier if m["kind"] != "kpi"]]  # as ``label_catchup._rescore_page`` hands them
    page = Path(pages.write_page(str(tmp_path / "r.html"), cfg, LABEL, summary, rows, "")).read_text()

    estimates = _section(page, "estimates")
    assert estimates.count("<td>accuracy</td>") == 1 and estimates.count("<td>roc_auc</td>") == 1, estimates
    assert "0.692" in estimates and "0.690" not in estimates and "0.700" not in estimates
    assert "accuracy and roc_auc" in estimates and "accuracy, roc_auc, accuracy" not in estimates
    outputs = _section(page, "outputs")
    assert outputs.count("<td>y</td>") == 1 and "stable" in outputs and "not evaluated" not in outputs, outputs
    assert "1,000 rows, as expected" in page and ">age<" in _section(page, "drift")  # stored checks not redone

    # stored rows of two versions: the later one's; one origin's rows are never folded together
    later = _stored(_estimates((0.695, 0.707), 350), 9)
    both = pages._one_per_check([*_stored(_estimates((0.690, 0.700), 300), 7), *later])
    assert [m["details"]["realized"] for m in both] == [0.695, 0.707]
    assert pages._one_per_check(own + own) == own + own


def test_drift_per_segment_is_a_group_of_its_own_that_names_the_drifted_cells(cfg, tmp_path):
    from driftwarden.checks.drift.results import SegmentCell, SegmentDrift, SegmentLeftOut

    cells = (
        SegmentCell(f"car={HOSTILE}", "age", "ks", 1e-6, 0.05 / 4, True, 400, 2000),
        SegmentCell(f"car={HOSTILE}", "loan", "ks", 0.3, 0.05 / 3, False, 400, 2000),
        SegmentCell("car=b", "age", "ks", 0.6, 0.05 / 2, False, 300, 1500),
        SegmentCell("car=b", "zipcode", "chisquare", 1e-9, 0.05, True, 300, 1500),  # masked: never named
    )
    drift = DriftResult((), None, 0.5, None, "", SegmentDrift(cells, (SegmentLeftOut("car", 3, 120, 2),)))
    rows = records.input_metric_rows(VolumeResult(1000, 10, 990.0, False, "1000 rows"), None, drift)
    page = Path(pages.write_page(str(tmp_path / "s.html"), cfg, LABEL, "OK: fine.", rows, NOTE)).read_text()
    group = _section(page, "segments")
    assert group.startswith("warn") and "Drift per segment" in page
    assert "Inputs drifted in car=&lt;/script&gt;&lt;b&gt;x (age)" in group and "not part of the verdict" in group
    assert "zipcode" not in page and HOSTILE not in page
    assert "3 values of car (120 rows) not evaluated: not among the reference&#x27;s 2 most frequent" in group
