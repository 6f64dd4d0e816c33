"""The model page and the index, in a real browser: they load from disk with no network and no console error,
the charts hold one point per stored window, the status, since when, each KPI against its target and the last
action are on the page, and values from data (a hostile category, a masked column) are text or absent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from driftwarden.config.loader import load_model_config
from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from tests.flows.reports.browser import chart_points, opened

REPO = Path(__file__).resolve().parents[3]
HOSTILE = "</script><b>x"
WINDOWS = 6


def _config(tmp_path: Path, name: str) -> Path:
    spec = yaml.safe_load((REPO / "config" / "credit_risk.yaml").read_text())
    spec["name"] = name
    spec["columns"]["categorical"] = [*spec["columns"]["categorical"], "customer_email"]
    spec["failures"] = {"max_per_run": 100, "mask": ["customer_email"]}
    path = tmp_path / "config" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return path


def _store_history(name: str) -> None:
    """Six daily windows as the monitor stores them: four ok, a data-quality breach whose failing rows carry a
    hostile category and a private e-mail, then a KPI breach."""
    engine = store.open_store(get_settings().resolved_store_url())
    start = datetime(2026, 10, 1, 22, tzinfo=UTC).replace(tzinfo=None)
    for day in range(WINDOWS):
        ws = start + timedelta(days=day)
        quality, kpi_bad = day == 4, day == 5
        status = "breach" if quality or kpi_bad else "ok"
        causes = ["data_quality"] if quality else ["concept_change"] if kpi_bad else []
        acc = 0.71 if kpi_bad else 0.89
        summary = (
            f"BREACH: the input data is broken.\n- validation (breach): employment_type has unseen '{HOSTILE}'; "
            "customer_email null in 30% of rows"
            if quality
            else "BREACH: the model got worse while its inputs look normal."
            if kpi_bad
            else "OK: volume, validation, drift and the KPIs evaluated so far are within their rules."
        )
        rows = [
            store.MetricRow("volume", "rows", value=2500, threshold=500, passed=True, details={"note": "2500 rows"}),
            store.MetricRow(
                "validation", "expect_column_values_to_be_in_set", "employment_type", value=0.2 if quality else 0.0,
                threshold=0.01, passed=not quality,
                details={"rule": "employment_type in the 4 known categories",
                         "detail": f"employment_type: unseen '{HOSTILE}' in 20.00% of rows" if quality else "ok"},
            ),
            store.MetricRow(
                "validation", "expect_column_values_to_not_be_null", "customer_email", value=0.3 if quality else 0.0,
                threshold=0.02, passed=not quality, details={"detail": "customer_email present: 30.00% break it"},
            ),  # fmt: skip
            store.MetricRow("drift", "wasserstein", "age", value=0.02 + 0.01 * day, threshold=0.1, passed=True,
                            details={"role": "feature"}),
            store.MetricRow("drift", "jensenshannon", "customer_email", value=0.5, threshold=0.1, passed=False,
                            details={"role": "feature"}),
            store.MetricRow("drift", "dataset_share", value=0.1, threshold=0.3, passed=True,
                            details={"role": "dataset", "note": "1 of 10 features drifted"}),
        ]  # fmt: skip
        for metric, value in (("accuracy", acc), ("roc_auc", acc + 0.05)):
            level = "breach" if kpi_bad else "ok"
            for segment in ("all", "region=north"):
                rows.append(
                    store.MetricRow(
                        "kpi", metric, segment=segment, value=value, lower=value - 0.02, upper=value + 0.02,
                        threshold=0.8, direction="higher_is_better", passed=not kpi_bad,
                        details={"level": level, "labelled": 2500, "mature": True},
                    )
                )  # fmt: skip
            rows.append(
                store.MetricRow("estimate", metric, value=0.9, lower=0.88, upper=0.92, threshold=0.8,
                                direction="higher_is_better", passed=True, details={"method": "cbpe"})
            )  # fmt: skip
        failures = [
            {
                "reason": "unseen_category", "row_id": f"A{day}-{i}", "model_version": "v1", "prediction": 0,
                "label": 1, "score": 0.9, "detail": f"employment_type '{HOSTILE}', customer_email=None",
                "features": {"age": 30 + i, "employment_type": HOSTILE, "customer_email": "tok_9f2c"},
            }
            for i in range(3)
        ] if quality else []  # fmt: skip
        run = store.RunRecord(
            model=name, window_start=ws, window_end=ws + timedelta(days=1), trigger="backfill", status=status,
            started_at=ws + timedelta(days=1), causes=causes, rows=2500, labelled_rows=2500, label_coverage=1.0,
            as_of=ws + timedelta(days=6 if kpi_bad else 1), summary=summary,
        )  # fmt: skip
        store.write_run(engine, run, rows, failures)


@pytest.fixture
def two_models(tmp_path: Path, dw_home: Path) -> tuple[Path, Path]:
    watched, quiet = _config(tmp_path, "watched"), _config(tmp_path, "quiet")
    _store_history("watched")
    return watched, quiet


def test_model_page_in_a_browser(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    watched, _ = two_models
    out = tmp_path / "watched.html"
    result = CliRunner().invoke(app, ["report", "--config", str(watched), "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "customer_email" not in text and "tok_9f2c" not in text  # masked: never on a page
    assert HOSTILE not in text  # escaped everywhere, in the HTML and in the charts' JSON
    with opened(out, "model-page-watched") as seen:
        page = seen.page
        assert seen.errors == []
        assert seen.external(out.resolve().as_uri()) == []
        points = chart_points(page)
        assert {"kpi-accuracy", "kpi-roc-auc", "volume", "drift", "quality"} <= set(points)
        for chart, traces in points.items():
            if chart != "events":
                assert WINDOWS in traces, (chart, traces)  # one point per stored window
        realized = page.evaluate("document.getElementById('kpi-accuracy').data.find(t => t.meta === 'realized').y")
        assert realized[-1] == pytest.approx(0.71) and realized[0] == pytest.approx(0.89)
        assert page.inner_text("#status") == "BREACH"
        assert "since 2026-10-06" in page.inner_text("#since")
        kpis = page.inner_text("#kpis")
        assert "accuracy" in kpis and "0.710" in kpis and "0.800" in kpis and "breach" in kpis
        assert "region=north" in kpis
        assert "Last action" in page.inner_text("#last-action")
        # the hostile category is shown as the text it is, and made no element
        assert (
            page.evaluate("Array.from(document.querySelectorAll('b')).filter(b => b.textContent === 'x').length") == 0
        )


def test_failure_samples_show_a_hostile_category_as_text(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    """The data-quality night's failure samples, on its page while it was the latest window."""
    from driftwarden.flows.reports.model_page import gather, render

    watched, _ = two_models
    cfg = load_model_config(watched)
    history = gather(cfg, get_settings().resolved_store_url())
    history.runs = history.runs.iloc[:5]  # as the page stood after the broken night
    history.samples = store.failure_log(store.open_store(get_settings().resolved_store_url()), cfg.name)
    out = tmp_path / "broken.html"
    out.write_text(render(cfg, history, str(out)))
    assert "customer_email" not in out.read_text()  # nor in the summary, a failure's detail, a chart's hover
    with opened(out, "model-page-broken-night") as seen:
        assert seen.errors == []
        table = seen.page.inner_text("#failures")
        assert HOSTILE in table and "customer_email" not in table
        assert seen.page.evaluate("document.querySelectorAll('#failures b').length") == 0


def test_index_of_every_model(two_models: tuple[Path, Path], dw_home: Path) -> None:
    watched, quiet = two_models
    result = CliRunner().invoke(app, ["report", "--all", str(watched), str(quiet)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    index = Path(get_settings().resolved_reports_dir()) / "index.html"
    with opened(index, "index") as seen:
        page = seen.page
        assert seen.errors == [] and seen.external(index.resolve().as_uri()) == []
        rows = page.inner_text("#models")
        assert "watched" in rows and "breach" in rows and "2026-10-06" in rows
        assert "quiet" in rows and "never run" in rows
        link = page.get_attribute("tr[data-model='watched'] a", "href")
        assert link == "watched/model.html"
        assert (index.parent / link).exists()


def test_report_needs_a_model_or_all(dw_home: Path) -> None:
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 2 and "--config" in result.output
