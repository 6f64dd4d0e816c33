"""The decision table, row by row."""

from __future__ import annotations

from driftwarden.checks.verdict import Finding, decide_verdict

VOLUME = Finding("volume", "breach", "12 rows, below the floor of 500")
DQ = Finding("validation", "breach", "failed: income non-null")
DRIFT = Finding("drift", "breach", "4 of 9 features drifted")
DRIFT_LOW = Finding("drift", "warning", "1 of 9 features drifted")
KPI = Finding("kpi", "breach", "accuracy 0.70 below 0.80")
KPI_LOW = Finding("kpi", "warning", "accuracy 0.79 below 0.80")


def test_rows():
    assert decide_verdict([]).status == "ok"
    assert decide_verdict([VOLUME]).causes == ("volume",)
    assert decide_verdict([DQ]).causes == ("data_quality",)
    assert decide_verdict([DRIFT]).causes == ("input_drift",)
    assert decide_verdict([KPI]).causes == ("concept_change",)
    with_drift = decide_verdict([DRIFT, KPI])
    assert with_drift.causes == ("input_drift",) and "accuracy" in with_drift.summary
    assert "drift is the likely cause" in with_drift.summary
    for weak in ([DRIFT_LOW], [KPI_LOW], [DRIFT_LOW, KPI_LOW]):
        v = decide_verdict(weak)
        assert v.status == "warning" and v.causes == ()
    # a KPI breach with features drifted below the dataset rule: the inputs did not look normal
    below = decide_verdict([DRIFT_LOW, KPI])
    assert below.causes == ("input_drift",) and "drifted (below the dataset rule)" in below.summary
    assert "1 of 9 features drifted" in below.summary and "look normal" not in below.summary
    # broken data explains a KPI drop better than a new concept
    assert decide_verdict([DQ, DRIFT_LOW, KPI]).causes == ("data_quality",)  # broken data explains both
    broken = decide_verdict([VOLUME, DQ, KPI])
    assert broken.causes == ("volume", "data_quality") and "data quality is the likely cause" in broken.summary
    # drift not evaluated: nobody looked at the inputs, so the cause is undetermined (still a breach)
    unknown = decide_verdict([Finding("drift", "note", "not evaluated: 24 rows < min_rows 1000"), KPI])
    assert unknown.status == "breach" and unknown.causes == ("undetermined",), unknown
    assert unknown.summary.startswith("BREACH: the model got worse and the cause is not known")
    assert "neither a drift nor a change of the relationship can be ruled out" in unknown.summary
    assert decide_verdict([VOLUME, Finding("drift", "note", "not evaluated"), KPI]).causes == ("volume", "undetermined")
    assert decide_verdict([Finding("drift", "note", "not evaluated")]).status == "ok"


def test_summary_is_plain_words():
    v = decide_verdict([KPI])
    assert v.summary.startswith("BREACH: the model got worse while its inputs look normal")
    assert decide_verdict([]).summary.startswith("OK")
