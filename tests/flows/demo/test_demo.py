"""The demo end to end: every injected night flagged for the right reason, every clean night ok."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftwarden.flows.cli.app import app

pytestmark = pytest.mark.slow


def test_demo_flags_each_injected_night_with_its_cause(demo_month, monkeypatch):
    # `driftwarden demo --config <copy of config/credit_risk.yaml> --json`, run once for the tests that read it
    demo_month.use(monkeypatch)
    nights = demo_month.nights
    assert len(nights) == 30
    assert (demo_month.root / ".driftwarden" / "demo" / "reference.parquet").exists()
    by_cause: dict[str | None, list[dict]] = {}
    for n in nights:
        by_cause.setdefault(n["injected"], []).append(n)
    # 16 clean nights before the concept change, and those scored by the champion retrained on the new concept
    assert len(by_cause[None]) >= 19 and all(n["status"] == "ok" for n in by_cause[None])
    assert all(n["drifted_features"] == [] for n in by_cause[None])
    [shift] = by_cause["input_drift"]
    assert shift["causes"] == ["input_drift"] and {"age", "income"} <= set(shift["drifted_features"])
    # the estimate from the model's confidence: on clean nights within a point of realized; on the feature
    # shift it falls with realized; on the concept change it holds while realized falls
    clean = [n["estimates"]["accuracy"] for n in by_cause[None] if n["rows"] > 1000]
    assert all(abs(e["error"]) < 0.03 for e in clean), clean
    calm = min(e["value"] for e in clean if e["value"] > 0.88)
    moved = shift["estimates"]["accuracy"]
    assert moved["value"] < calm - 0.015 and abs(moved["error"]) < 0.01 and moved["gap"] == "within", moved
    [broken] = by_cause["data_quality"]
    assert broken["causes"] == ["data_quality"] and broken["failures_logged"] > 0
    [thin] = by_cause["volume"]
    assert thin["causes"] == ["volume"] and thin["rows"] < 100
    concept = [n for n in by_cause["concept_change"] if n["rows"] > 1000]
    mature = [n for n in concept if n["kpis"]["accuracy"]["level"] != "pending"]
    assert len(mature) >= 5
    for n in mature:
        assert n["causes"] == ["concept_change"] and n["drifted_features"] == []
        assert n["kpis"]["accuracy"]["upper"] < 0.8
        held = n["estimates"]["accuracy"]
        assert held["value"] > 0.87 and held["gap"] == "worse" and held["error"] > 0.15, held
        # re-scored after the promotion, still through the estimator of the champion that scored them: all
        # rows labelled, the estimate of the labelled rows is the window's
        assert held["fitted_on"] == "the reference: 5,000 rows", held
        assert held["on_labelled"]["value"] == pytest.approx(held["value"], abs=1e-9), held
        assert "as confident as before" in n["summary"]
        assert n["status_since"] > n["window_end"]  # caught once the labels matured, days later
    assert all(n["status"] != "breach" for n in concept if n not in mature)
    assert all(n["error"] is None for n in nights)
    # The concept change led to one retrain, whose challenger won on held-out nights and was promoted; the
    # nights it scored recover.
    [retrained] = [n for n in nights if (n["retrain"] or {}).get("attempt")]
    # it beat v1 on night 20 (whose breach started the retrain) and waits for night 21's labels, which the
    # next night's run has: that run promotes it before it scores its own night
    assert retrained["retrain"]["attempt"]["outcome"] == "pending", retrained["retrain"]
    assert retrained["retrain"]["cause"] == "concept_change"
    [decided] = [n for n in nights if (n["retrain"] or {}).get("promotion", {}).get("state") == "promoted"]
    assert decided["window_start"] > retrained["window_start"]
    assert (decided["retrain"]["promotion"]["p_value"] or 1) < 0.05, decided["retrain"]
    after = [n for n in nights if n["window_start"] > retrained["window_start"] and n["rows"] > 1000]
    assert after and all(n["injected"] is None and n["status"] == "ok" for n in after)
    evaluated = [n["kpis"]["accuracy"]["value"] for n in after if n["kpis"]["accuracy"]["value"] is not None]
    assert evaluated and min(evaluated) > 0.8
    assert all(Path(n["report"]).exists() for n in nights)
    _pages_for_people(len(nights))


def _pages_for_people(windows: int) -> None:
    """The demo leaves the model page, the index and a post-mortem per injected event; the model page opens in
    a real browser with no network, one point per night in its charts, and says where the model stands."""
    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store
    from driftwarden.flows.store.incidents import list_incidents
    from tests.flows.reports.browser import chart_points, opened

    reports = Path(get_settings().resolved_reports_dir())
    page, index = reports / "credit_risk" / "model.html", reports / "index.html"
    assert page.exists() and index.exists()
    incidents = list_incidents(store.open_store(get_settings().resolved_store_url()), "credit_risk")
    assert sorted(incidents["cause"]) == ["concept_change", "data_quality", "input_drift", "volume"]
    assert all(Path(p).exists() for p in incidents["html_path"])
    concept = incidents[incidents["cause"] == "concept_change"].iloc[0]
    assert concept["state"] == "closed" and concept["windows"] == 6
    with opened(page, "demo-model-page") as seen:
        assert seen.errors == [] and seen.external(page.resolve().as_uri()) == []
        points = chart_points(seen.page)
        assert all(windows in traces for chart, traces in points.items()), points
        assert seen.page.inner_text("#status") == "OK"
        assert "since 2026-10-26" in seen.page.inner_text("#since")
        assert "v2 promoted" in seen.page.inner_text("#last-action")
        assert "concept" in seen.page.inner_text("#incidents")
    with opened(Path(concept["html_path"]), "demo-postmortem-concept-change") as seen:
        assert seen.errors == [] and seen.external(Path(concept["html_path"]).resolve().as_uri()) == []


def test_the_demo_refuses_a_config_that_is_not_its_model_and_touches_nothing(tmp_path, dw_home):
    """`demo --config` deletes and rewrites its sources' files: pointed at a user's own model by mistake,
    it refuses before deleting anything."""
    from tests.streams import write_agrawal_sources

    path = write_agrawal_sources(tmp_path / "mine")
    before = sorted(p.name for p in path.parent.iterdir())
    result = CliRunner().invoke(app, ["demo", "--config", str(path)])
    assert result.exit_code == 2 and "not a config of the demo's credit-risk model" in result.output, result.output
    assert sorted(p.name for p in path.parent.iterdir()) == before
