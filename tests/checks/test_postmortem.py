"""Post-mortems in plain words from plain data: the figures a stakeholder needs, escaped HTML, no private column."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from driftwarden.checks.incidents import RetrainAttempt, WindowState, derive_incidents
from driftwarden.checks.postmortem import (
    AlertSent,
    DriftFigure,
    Evidence,
    Finding,
    KpiFigure,
    ValidationFailure,
    WindowEvidence,
    write_postmortem,
)

T0 = datetime(2026, 5, 1)
EVIL = "</script><b>x"


def _window(day, status, causes=(), checks=None, known=None, rows=2000):
    start = T0 + timedelta(days=day)
    end = start + timedelta(days=1)
    return WindowState(start, end, status, tuple(causes), rows, rows, 1.0, end, checks or {}, known or {}, {})


def _concept():
    windows = [
        _window(d, "breach", ["concept_change"], {"kpis": False}, {"concept_change": T0 + timedelta(days=d + 5)})
        for d in (1, 2)
    ]
    windows.append(_window(3, "ok", {}, {"kpis": True}))
    attempt = RetrainAttempt(
        T0 + timedelta(days=7), "promoted", "concept_change", "automatic: auc breached", 2, "roc_auc",
        "DeLong (one-sided)", 3.2e-9, {"challenger": {"roc_auc": 0.91}, "champion": {"roc_auc": 0.72}},
        rows={"train": 1800, "holdout": 900}, training_rule="rows since the change",
    )  # fmt: skip
    [incident] = derive_incidents("churn", windows, [attempt])
    evidence = []
    for d in (1, 2):
        start = T0 + timedelta(days=d)
        kpis = (
            KpiFigure(start, "roc_auc", 0.71 + d / 100, 0.69, 0.74, 0.8, labelled=2000, level="breach"),
            KpiFigure(start, "roc_auc", 0.52, 0.47, 0.57, 0.8, labelled=600, level="breach", segment=f"plan={EVIL}"),
            KpiFigure(start, "roc_auc", 0.6, 0.5, 0.7, 0.8, labelled=90, level="breach", segment="email=a@b.c"),
        )
        evidence.append(
            WindowEvidence(
                start,
                "BREACH: the model got worse\nThe realized AUC is worse than the model's confidence predicts.",
                (Finding("estimate_gap", "note", "realized roc_auc 0.711 is worse than the 0.930 predicted"),),
                kpis,
                failures={"confident_mistake": 40},
            )
        )
    closing = WindowEvidence(T0 + timedelta(days=3), kpis=(KpiFigure(T0, "roc_auc", 0.9, 0.88, 0.92, 0.8, level="ok"),))
    alerts = (AlertSent(T0 + timedelta(days=6), "slack", "[driftwarden] CRITICAL churn: KPI", "sent"),)
    return incident, Evidence(tuple(evidence), closing, alerts, frozenset({"email"}))


def test_a_concept_change_post_mortem_states_the_figures_in_plain_words():
    incident, evidence = _concept()
    doc = write_postmortem(incident, evidence)
    md = doc.to_markdown()
    assert doc.id == "churn-2026-05-02-concept-change" and doc.state == "closed"
    assert "roc_auc was 0.720 (95% interval 0.690 to 0.740)" in md and "target of at least 0.8" in md
    assert "4,000 predictions were made in the breached windows" in md
    assert "once the labels of the first window had matured" in md
    assert "realized roc_auc 0.711 is worse than the 0.930 predicted" in md  # the rule, in the run's figures
    assert "retrained model 0.910 against the champion's 0.720" in md and "DeLong (one-sided) test, p = 3.20e-09" in md
    assert "promoted; the retrained model v2 became the champion" in md
    assert "1 alert sent (channels: slack)" in md
    assert "Closed on" in md and "roc_auc 0.900 (target at least 0.8)" in md
    assert "80 confident mistake" in md
    assert doc.summary.count(".") >= 1 and "\n" not in doc.summary
    assert json.loads(json.dumps(doc.to_json()))["facts"]["predictions"] == 4000


def test_html_escapes_every_value_and_a_private_column_never_appears():
    incident, evidence = _concept()
    more = WindowEvidence(
        evidence.windows[0].window_start,
        "BREACH: x\nemail looked odd",
        (Finding("drift", "note", "email not evaluated"),),
        evidence.windows[0].kpis,
        (ValidationFailure(T0, EVIL, f"{EVIL}:in_set", f"{EVIL} in the 3 known categories: 9% break it"),
         ValidationFailure(T0, "email", "email:not_null", "email present: 20% break it")),
        (DriftFigure(T0, EVIL, "wasserstein", 0.5, 0.1, True),
         DriftFigure(T0, "email", "jensenshannon", 0.9, 0.1, True)),
    )  # fmt: skip
    evidence = Evidence((more, evidence.windows[1]), evidence.closing, evidence.alerts, frozenset({"email"}))
    doc = write_postmortem(incident, evidence)
    page = doc.to_html()
    assert EVIL not in page and "&lt;/script&gt;&lt;b&gt;x" in page
    assert "<script" not in page.lower()
    md = doc.to_markdown()
    assert EVIL in md  # the markdown is text: it names the feature as it is
    for text in (page, md, json.dumps(doc.to_json())):
        assert "email" not in text
    assert "plan=&lt;/script&gt;&lt;b&gt;x" in page  # the segment carrying the breach, escaped


def test_an_open_data_quality_incident_says_what_would_close_it_and_why_no_retrain():
    windows = [_window(1, "breach", ["data_quality"], {"validation": False}), _window(2, "failed")]
    [incident] = derive_incidents("m", windows)
    failure = ValidationFailure(T0 + timedelta(days=1), "income", "income:not_null", "income present: 30% break it")
    doc = write_postmortem(incident, Evidence((WindowEvidence(T0 + timedelta(days=1), validation=(failure,)),)))
    md = doc.to_markdown()
    assert doc.state == "open" and "Still open: it closes when a window passes its validation rules" in md
    assert "Validation failed: income present: 30% break it" in md
    assert "No retrain" in md and "No alert was sent" in md
    assert doc.summary.endswith("still open.")


def test_drifted_features_are_ranked_by_effect():
    windows = [_window(1, "breach", ["input_drift"], {"drift": False}), _window(2, "ok", {}, {"drift": True})]
    [incident] = derive_incidents("m", windows)
    start = T0 + timedelta(days=1)
    drift = (
        DriftFigure(start, "age", "wasserstein", 0.2, 0.1, True),
        DriftFigure(start, "income", "wasserstein", 0.9, 0.1, True),
        DriftFigure(start, "region", "chisquare", 1e-6, 0.05, True),
        DriftFigure(start, "calm", "wasserstein", 0.01, 0.1, False),
    )
    doc = write_postmortem(incident, Evidence((WindowEvidence(start, drift=drift),)))
    [table] = [s.table for s in doc.sections if s.heading == "The evidence"]
    assert table is not None and [r[0] for r in table.rows] == ["region", "income", "age"]


def test_an_alert_carries_the_incident_of_its_conditions_with_its_post_mortem_and_command():
    from driftwarden.checks.alerting import Evidence as AlertEvidence
    from driftwarden.checks.alerting import Observation, compose, decide
    from driftwarden.config.alerts import AlertsConfig

    kpi = Observation("kpi", "roc_auc", "critical", 0.08, "roc_auc 0.72 below target 0.8", "2026-05-02")
    evidence = AlertEvidence((kpi,), frozenset({"kpi/roc_auc"}))
    decisions = decide("churn", evidence, {}, [], T0, AlertsConfig())
    brief = {
        "id": "churn-2026-05-02-concept-change", "cause": "concept_change", "state": "open", "title": "churn",
        "postmortem": "/reports/churn/postmortems/churn-2026-05-02-concept-change.html",
        "command": "driftwarden postmortem --config churn.yaml --incident churn-2026-05-02-concept-change",
    }  # fmt: skip
    thin = {**brief, "id": "churn-2026-05-03-volume", "cause": "volume"}
    window = {"window_start": "2026-05-07", "status": "breach", "incidents": [brief, thin]}
    [message] = compose("churn", decisions, AlertsConfig(), window)
    assert [i["id"] for i in message.to_json()["incidents"]] == [brief["id"]]  # not the thin feed's
    assert brief["postmortem"] in message.text and f"`{brief['command']}`" in message.text
    assert "churn-2026-05-03-volume" not in message.text


def _cost_windows(during: float, after: float):
    """The cost KPI's nights around the concept change of ``_concept`` (days 1 and 2): 5 a prediction before,
    ``during`` in it, ``after`` once the retrained model serves."""
    import pandas as pd

    from driftwarden.checks.objectives import WindowKpi

    out = []
    for day in range(-7, 10):
        start = pd.Timestamp(T0 + timedelta(days=day), tz="UTC")
        value = during if day in (1, 2) else 5.0 if day < 1 else after
        level = "breach" if value > 8 else "ok"
        out.append(WindowKpi(start, start + pd.Timedelta(days=1), level, value, value - 1, value + 1, 2000, 2000, True))
    return tuple(out)


def test_the_cost_of_an_incident_is_told_as_the_review_tells_it():
    from dataclasses import replace

    incident, evidence = _concept()
    doc = write_postmortem(incident, replace(evidence, cost_windows=_cost_windows(25.0, 6.0), currency="EUR"))
    [what] = [s for s in doc.sections if s.heading == "What happened"]
    # (25 - 5) a prediction over 2 nights of 2,000; the retrained model won back (25 - 6) / (25 - 5)
    sentence = "The concept change cost an estimated 80,000 EUR (95%: 77,172 to 82,828) over 2 nights; "
    assert any(p.startswith(sentence.rstrip("; ")) for p in what.paragraphs), what.paragraphs
    assert "the new model recovered 95% of the loss." in doc.to_markdown()
    cost = json.loads(json.dumps(doc.to_json()))["facts"]["cost"]
    assert cost["currency"] == "EUR" and cost["extra"] == 80000 and cost["recovered"] == 0.95
    cheaper = write_postmortem(incident, replace(evidence, cost_windows=_cost_windows(2.0, 5.0), currency="EUR"))
    assert "cost nothing beyond the usual: an estimated 12,000 EUR less" in cheaper.to_markdown()
    assert "cost" not in write_postmortem(incident, evidence).facts  # no value configured: nothing said


def test_times_are_in_the_models_zone_numbers_are_grouped_and_links_are_safe():
    """The policy stores its reason with UTC ISO times and bare numbers: the page says them in the model's zone
    with thousands separators, the JSON carries ISO times with the zone's offset, and the page links back to
    the model page and to each window's run page (escaped; a script's scheme is never a link)."""
    windows = [
        _window(d, "breach", ["concept_change"], {"kpis": False}, {"concept_change": T0 + timedelta(days=d + 5)})
        for d in (1, 2)
    ]
    reason = f"automatic: roc_auc breached since {(T0 + timedelta(days=1)).isoformat()} (5015 labelled rows)"
    attempt = RetrainAttempt(T0 + timedelta(days=7), "promoted", "concept_change", reason, 2,
                             training_rule=f"rows since {(T0 + timedelta(days=1)).isoformat()}+00:00",
                             rows={"train": 2521, "holdout": 2494})  # fmt: skip
    [incident] = derive_incidents("churn", windows, [attempt], tz="Europe/Berlin")
    first, second = (T0 + timedelta(days=d) for d in (1, 2))
    pages = {first: '../runs/a b".html', second: "javascript:alert(1)"}
    doc = write_postmortem(incident, Evidence(report_paths=pages, model_page="../model.html"))
    md = doc.to_markdown()
    assert "since 2026-05-02 02:00 CEST (5,015 labelled rows)" in md and "T00:00" not in md
    assert "rows since 2026-05-02 02:00 CEST: 2,521 rows, checked on 2,494 held-out predictions" in md
    facts = json.loads(json.dumps(doc.to_json()))["facts"]
    assert facts["opened_at"] == "2026-05-07T02:00:00+02:00" and facts["first_window"] == "2026-05-02T02:00:00+02:00"
    assert facts["retrains"][0]["as_of"] == "2026-05-08T02:00:00+02:00"
    assert "since 2026-05-02T02:00:00+02:00" in facts["retrains"][0]["reason"]
    page = doc.to_html()
    assert '<a href="../model.html">churn: the model page</a>' in page
    assert '<a href="../runs/a b&quot;.html">2026-05-02 02:00</a>' in page
    assert "javascript:" not in page


def test_the_segments_whose_inputs_drifted_are_named_in_words_and_facts():
    from dataclasses import replace

    from driftwarden.checks.postmortem import evidence_rows

    incident, evidence = _concept()
    stored = [  # as the store hands them back: one drifted cell, a stable one, one of a private segment column
        {"kind": "segment_drift", "name": "ks", "column": "income", "segment": "region=north", "value": 1e-6,
         "threshold": 0.0025, "passed": False, "details": {"role": "feature"}},
        {"kind": "segment_drift", "name": "wasserstein", "column": "age", "segment": "region=north", "value": 0.3,
         "threshold": 0.1, "passed": False, "details": {"role": "feature"}},
        {"kind": "segment_drift", "name": "ks", "column": "age", "segment": "region=south", "value": 0.4,
         "threshold": 0.05, "passed": True, "details": {"role": "feature"}},
        {"kind": "segment_drift", "name": "ks", "column": "age", "segment": "email=a@b.c", "value": 1e-9,
         "threshold": 0.0025, "passed": False, "details": {"role": "feature"}},
    ]  # fmt: skip
    windows = tuple(
        replace(w, segment_drift=evidence_rows(stored, w.window_start)["segment_drift"]) for w in evidence.windows
    )
    doc = write_postmortem(incident, replace(evidence, windows=windows))
    assert "Inputs drifted most in region=north: income, age" in doc.to_markdown()
    assert "email" not in json.dumps(doc.to_json()["facts"]["segment_drift"])
    [north] = doc.to_json()["facts"]["segment_drift"]
    assert north["segment"] == "region=north" and north["features"] == ["income", "age"] and north["windows"] == 2
