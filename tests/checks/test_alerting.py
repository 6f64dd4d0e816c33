"""Alerting decisions and messages (pure: no Prefect, no store, no network)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from driftwarden.checks.alerting import (
    ConditionState,
    Decision,
    Evidence,
    Mute,
    Observation,
    compose,
    decide,
    model_evidence,
    silence_evidence,
    slack_payload,
    window_evidence,
)
from driftwarden.config.alerts import AlertsConfig, SilenceConfig

T0 = datetime(2026, 10, 20, 1, 0)
CFG = AlertsConfig(cooldown="24h", worsen_step=0.05, runbook_url="https://wiki.example/runbooks/credit-risk")


def kpi_row(value, level, lower=None, upper=None, target=0.8, segment="all"):
    return {
        "kind": "kpi",
        "name": "accuracy",
        "segment": segment,
        "value": value,
        "lower": lower,
        "upper": upper,
        "threshold": target,
        "direction": "higher_is_better",
        "passed": None if level in ("pending", "not_evaluated") else level == "ok",
        "details": {"level": level, "labelled": 2521},
    }


def drift_rows(share, scores, rule=0.3):
    rows = [
        {
            "kind": "drift",
            "name": "wasserstein",
            "column": col,
            "value": v,
            "threshold": 0.1,
            "passed": v < 0.1,
            "details": {"role": "feature"},
        }
        for col, v in scores.items()
    ]
    passed = None if share is None else share < rule
    rows.append(
        {"kind": "drift", "name": "dataset_share", "value": share, "threshold": rule, "passed": passed,
         "details": {"role": "dataset"}}
    )  # fmt: skip
    return rows


def window(status="breach", start="2026-10-19T00:00:00+02:00", **extra):
    return {
        "model": "credit_risk",
        "window_start": start,
        "window_end": start.replace("19T", "20T"),
        "status": status,
        "summary": "BREACH: the model's inputs have drifted from the reference.\n- drift (breach): ...",
        "failures_logged": 42,
        "report": "/srv/reports/credit_risk/20261019.html",
        "error": None,
        **extra,
    }


def run(evidence, prior=None, now=T0, mutes=(), cfg=CFG):
    decisions = decide("credit_risk", evidence, prior or {}, list(mutes), now, cfg)
    return decisions, {d.state.key: d.state for d in decisions}


def kpi_evidence(value, level="breach"):
    obs = () if level == "ok" else (Observation("kpi", "accuracy", "critical", 0.8 - value, f"accuracy {value}"),)
    return Evidence(obs, frozenset({"kpi/accuracy"}))


def by_key(decisions: list[Decision]) -> dict[str, Decision]:
    return {d.state.key: d for d in decisions}


def test_window_evidence_reads_kpis_drift_expectations_and_volume():
    rows = [
        {"kind": "volume", "name": "rows", "value": 40, "threshold": 500, "passed": False,
         "details": {"note": "40 rows, below the floor of 500"}},
        {"kind": "validation", "name": "expect_column_values_to_not_be_null", "column": "income", "value": 0.3,
         "threshold": 0.02, "passed": False, "details": {"detail": "income: 30.0% null (allowed 2.0%)"}},
        {"kind": "validation", "name": "expect_column_values_to_be_between", "column": "age", "value": 0.0,
         "threshold": 0.005, "passed": True, "details": {}},
        *drift_rows(0.44, {"age": 0.41, "income": 0.28, "region": 0.02}),
        kpi_row(0.702, "breach", 0.684, 0.720),
        kpi_row(0.5, "breach", segment="region=south"),
    ]  # fmt: skip
    w = window_evidence(window(), rows)
    assert w.failed is None and w.inputs is not None
    got = {(o.check, o.subject): o for o in w.inputs.observations}
    assert set(got) == {
        ("volume", "rows"),
        ("data_quality", "income:expect_column_values_to_not_be_null"),
        ("input_drift", "dataset"),
        ("feature_drift", "age"),
        ("feature_drift", "income"),
    }
    assert got[("volume", "rows")].value == pytest.approx(1 - 40 / 500)
    assert got[("feature_drift", "age")].detail == "age: wasserstein 0.410 (threshold 0.1)"
    assert got[("feature_drift", "age")].severity == "critical"  # part of a dataset drift
    kpi = w.kpis["accuracy"]
    assert kpi is not None and kpi.value == pytest.approx(0.098)
    assert kpi.detail.startswith("accuracy 0.702 [0.684, 0.720] below target 0.8, 2521 labelled")


def test_drift_below_the_rule_is_a_warning_and_unevaluated_drift_covers_nothing():
    w = window_evidence(window("warning"), drift_rows(0.11, {"age": 0.2, "income": 0.01}))
    assert w.inputs is not None
    [ob] = w.inputs.observations
    assert (ob.check, ob.subject, ob.severity) == ("feature_drift", "age", "warning")
    small = window_evidence(window("ok"), drift_rows(None, {}))
    assert small.inputs is not None and not small.inputs.covers("feature_drift", "age")


def test_failed_run_is_a_critical_condition_and_clears_nothing_else():
    w = window_evidence(window("failed", error="SourceError: predictions.csv lacks column salary"), [])
    ev = model_evidence([w])
    [ob] = ev.observations
    assert ob.check == "run_failed" and "salary" in ob.detail
    assert ev.covers("run_failed", "run") and not ev.covers("feature_drift", "age")


def test_kpis_come_from_the_latest_window_where_they_were_evaluated():
    breached = window_evidence(window(start="2026-10-15T00:00:00+02:00"), [kpi_row(0.70, "breach", 0.68, 0.72)])
    pending = window_evidence(window("ok", start="2026-10-19T00:00:00+02:00"), [kpi_row(None, "pending")])
    ev = model_evidence([breached, pending])
    [ob] = ev.observations
    assert ob.check == "kpi" and "(window 2026-10-15)" in ob.detail
    recovered = window_evidence(window("ok", start="2026-10-16T00:00:00+02:00"), [kpi_row(0.85, "ok")])
    ev = model_evidence([breached, recovered, pending])
    assert ev.observations == () and ev.covers("kpi", "accuracy")


def test_a_condition_alerts_once_then_after_cooldown_or_when_worse_and_resolves():
    d1, state = run(kpi_evidence(0.70))
    [d] = d1
    assert (d.action, d.reason, d.notify) == ("alert", "new", True)
    # the next windows say the same: no storm
    for hours in (1, 12, 23):
        [d], state = run(kpi_evidence(0.70), state, T0 + timedelta(hours=hours))
        assert (d.action, d.reason) == ("suppress", "cooldown")
    assert state["credit_risk/kpi/accuracy"].last_sent == T0
    # worse by less than the step: still quiet; by the step: at once
    [d], state = run(kpi_evidence(0.66), state, T0 + timedelta(hours=23, minutes=30))
    assert d.action == "suppress"
    [d], state = run(kpi_evidence(0.65), state, T0 + timedelta(hours=23, minutes=40))
    assert (d.action, d.reason) == ("alert", "worse")
    # the cooldown runs from the last alert
    [d], state = run(kpi_evidence(0.65), state, T0 + timedelta(hours=30))
    assert d.action == "suppress"
    [d], state = run(kpi_evidence(0.65), state, T0 + timedelta(hours=48))
    assert (d.action, d.reason) == ("alert", "reminder")
    # clears: one resolved message, then nothing
    [d], state = run(kpi_evidence(0.85, "ok"), state, T0 + timedelta(hours=49))
    assert (d.action, d.notify, d.state.state) == ("resolve", True, "resolved")
    decisions, _ = run(kpi_evidence(0.85, "ok"), state, T0 + timedelta(hours=50))
    assert decisions == []
    # and opens again as new
    [d], _ = run(kpi_evidence(0.70), state, T0 + timedelta(hours=51))
    assert (d.action, d.reason) == ("alert", "new")


def test_a_smaller_p_value_is_no_worse_drift_but_a_larger_distance_is():
    def evidence(method: str, value: float):
        rows = drift_rows(0.11, {"age": value})
        rows[0].update(name=method, passed=False, threshold=0.05 if method == "ks" else 0.1)
        inputs = window_evidence(window("warning"), rows).inputs
        assert inputs is not None
        return Evidence(inputs.observations, frozenset(inputs.evaluated))

    _, state = run(evidence("ks", 0.01))
    [d], _ = run(evidence("ks", 1e-9), state, T0 + timedelta(hours=1))  # more rows, a tinier p: same drift
    assert (d.action, d.reason) == ("suppress", "cooldown")
    assert d.observation.value is None and "age: ks" in d.observation.detail
    _, state = run(evidence("wasserstein", 0.2))
    [d], _ = run(evidence("wasserstein", 0.3), state, T0 + timedelta(hours=1))
    assert (d.action, d.reason) == ("alert", "worse")


def test_a_rise_in_severity_alerts_at_once():
    warn = Evidence((Observation("feature_drift", "age", "warning", 0.2, "age"),), frozenset({"feature_drift"}))
    crit = Evidence((Observation("feature_drift", "age", "critical", 0.2, "age"),), frozenset({"feature_drift"}))
    _, state = run(warn)
    [d], _ = run(crit, state, T0 + timedelta(hours=1))
    assert (d.action, d.reason, d.state.severity) == ("alert", "worse", "critical")


def test_unevaluated_checks_leave_open_conditions_open():
    _, state = run(kpi_evidence(0.70))
    decisions, _ = run(Evidence((), frozenset({"volume"})), state, T0 + timedelta(hours=1))
    assert decisions == []


def test_mutes_silence_a_check_until_they_expire():
    mute = Mute("kpi", "*", T0 + timedelta(days=3), "retraining in progress")
    [d], state = run(kpi_evidence(0.70), mutes=[mute])
    assert (d.action, d.reason, d.notify) == ("suppress", "muted", False)
    assert state["credit_risk/kpi/accuracy"].state == "open"  # still tracked
    [d], state = run(kpi_evidence(0.60), state, T0 + timedelta(days=2), mutes=[mute])
    assert d.reason == "muted"
    [d], state = run(kpi_evidence(0.60), state, T0 + timedelta(days=3, hours=1), mutes=[mute])
    assert (d.action, d.reason) == ("alert", "new")
    other = Mute("feature_drift", "inc*", T0 + timedelta(days=3), "known")
    assert other.covers("feature_drift", "income", T0) and not other.covers("feature_drift", "age", T0)


def test_a_muted_condition_that_clears_sends_no_resolved_message():
    mute = Mute("*", "*", T0 + timedelta(days=3), "maintenance")
    _, state = run(kpi_evidence(0.70), mutes=[mute])
    [d], _ = run(kpi_evidence(0.9, "ok"), state, T0 + timedelta(hours=1))
    assert d.action == "resolve" and d.notify is False  # it was never alerted


def test_acknowledged_conditions_get_no_reminders_but_alert_when_worse():
    _, state = run(kpi_evidence(0.70))
    key = "credit_risk/kpi/accuracy"
    state = {key: ConditionState(**{**state[key].__dict__, "acknowledged": True})}
    [d], state = run(kpi_evidence(0.70), state, T0 + timedelta(days=2))
    assert (d.action, d.reason) == ("suppress", "acknowledged")
    [d], state = run(kpi_evidence(0.60), state, T0 + timedelta(days=2, hours=1))
    assert (d.action, d.reason) == ("alert", "worse") and state[key].acknowledged is False


def test_the_message_says_what_breached_why_and_where_to_look():
    rows = [
        *drift_rows(0.44, {"age": 0.412, "income": 0.281}),
        {"kind": "validation", "name": "expect_column_values_to_be_between", "column": "loan_amount", "value": 0.006,
         "threshold": 0.005, "passed": False, "details": {"detail": "loan_amount: 0.6% beyond [0, 250000]"}},
    ]  # fmt: skip
    w = window()
    old = window_evidence(window(start="2026-10-14T00:00:00+02:00"), [kpi_row(0.702, "breach", 0.684, 0.72)])
    ev = model_evidence([old, window_evidence(w, rows)])
    decisions, _ = run(ev)
    [msg] = compose("credit_risk", decisions, CFG, w)
    assert msg.kind == "alert" and msg.severity == "critical"
    assert msg.title.startswith("[driftwarden] CRITICAL credit_risk: failed expectation, input drift, feature drift")
    assert msg.title.endswith("in window 2026-10-14, 2026-10-19")
    text = msg.text
    for needed in [
        "credit_risk",
        "This run: window 2026-10-19T00:00:00+02:00 .. 2026-10-20T00:00:00+02:00, status BREACH",
        "Likely cause: The model's inputs have drifted from the reference.",
        "accuracy 0.702 [0.684, 0.720] below target 0.8",
        "age: wasserstein 0.412 (threshold 0.1)",
        "income: wasserstein 0.281",
        "44% of the features drifted (rule: 30%)",
        "loan_amount: 0.6% beyond [0, 250000]",
        "Failure samples logged for this window: 42",
        "Report: /srv/reports/credit_risk/20261019.html",
        "Runbook: https://wiki.example/runbooks/credit-risk",
        "credit_risk/kpi/accuracy",
    ]:
        assert needed in text, needed
    assert {c["key"] for c in msg.conditions} >= {"credit_risk/input_drift/dataset", "credit_risk/feature_drift/age"}
    slack = slack_payload(msg.to_json())
    assert slack["text"] == msg.title and slack["blocks"][0]["text"]["text"] == text


def test_resolved_and_warning_messages_are_separate_and_suppressed_ones_are_context():
    crit = Observation("kpi", "accuracy", "critical", 0.1, "accuracy 0.70")
    warn = Observation("feature_drift", "age", "warning", 0.2, "age: wasserstein 0.200 (threshold 0.1)")
    _, state = run(Evidence((crit,), frozenset({"kpi/accuracy"})))
    ev = Evidence((warn,), frozenset({"kpi/accuracy", "feature_drift"}))
    decisions, _ = run(ev, state, T0 + timedelta(hours=1))
    msgs = {(m.kind, m.severity): m for m in compose("credit_risk", decisions, CFG, window("warning"))}
    assert set(msgs) == {("resolved", "critical"), ("alert", "warning")}
    assert "RESOLVED" in msgs[("resolved", "critical")].title
    assert "accuracy 0.70" in msgs[("resolved", "critical")].text


def test_the_dead_mans_switch():
    cfg = SilenceConfig(no_run="36h", no_rows="2d", no_labels="7d")
    now = datetime(2026, 11, 10, 6, 0)
    ev = silence_evidence(cfg, now, now - timedelta(hours=40), now - timedelta(hours=30), None)
    got = {o.subject: o for o in ev.observations}
    assert set(got) == {"no_run", "no_labels"}
    assert "no successful run since 2026-11-08 14:00 UTC (40.0 hours); allowed: 36h" == got["no_run"].detail
    assert "no window with labels ever" in got["no_labels"].detail
    assert ev.covers("silence", "no_rows")
    quiet = silence_evidence(SilenceConfig(no_run="36h"), now, now - timedelta(hours=2), None, None)
    assert quiet.observations == () and not quiet.covers("silence", "no_rows")
    decisions, _ = run(ev, now=now)
    [msg] = compose("credit_risk", decisions, CFG, None)
    assert "Likely cause: The model has gone quiet" in msg.text


def test_channels_follow_the_routes():
    cfg = AlertsConfig.model_validate(
        {
            "channels": {
                "oncall": {"type": "slack", "url": "${SLACK_URL}"},
                "log": {"type": "file", "path": "alerts.jsonl"},
            },
            "routes": {"critical": ["oncall", "log"], "warning": ["log"]},
        }
    )
    assert cfg.channels_for("critical") == ["oncall", "log"] and cfg.channels_for("warning") == ["log"]
    block = {"type": "webhook", "url": "{{ prefect.blocks.secret.alerts-hook }}"}
    assert AlertsConfig.model_validate({"channels": {"a": block}}).channels["a"].type == "webhook"
    default = AlertsConfig.model_validate({"channels": {"a": {"type": "file", "path": "a"}}})
    assert default.channels_for("critical") == ["a"] and default.channels_for("warning") == []


@pytest.mark.parametrize(
    ("channel", "words"),
    [
        ({"type": "webhook", "url": "https://hooks.example/T0/B0/abcdef"}, "url must be an environment placeholder"),
        ({"type": "slack", "url": "https://x/${TOKEN}"}, "url must be an environment placeholder"),
        (
            {"type": "email", "host": "smtp", "sender": "a@b", "to": ["c@d"], "username": "u", "password": "hunter2"},
            "password must be an environment placeholder",
        ),
        ({"type": "email", "host": "smtp", "sender": "a@b", "to": []}, "to"),
        ({"type": "pager", "url": "${X}"}, "type"),
    ],
)
def test_literal_secrets_and_bad_channels_are_refused(channel, words):
    with pytest.raises(ValueError, match=words):
        AlertsConfig.model_validate({"channels": {"oncall": channel}})


def test_a_literal_secret_in_a_yaml_file_is_named_but_never_echoed(tmp_path):
    from driftwarden.config.loader import ConfigError, load_model_config

    text = (Path(__file__).parents[2] / "config" / "credit_risk.yaml").read_text()
    text += "alerts:\n  channels:\n    oncall: {type: slack, url: 'https://hooks.example/T0/B0/s3cr3t'}\n"
    (tmp_path / "m.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_model_config(tmp_path / "m.yaml")
    message = str(info.value)
    assert "m.yaml" in message and "alerts.channels.oncall" in message and "placeholder" in message
    assert "s3cr3t" not in message


def test_bad_routes_and_durations_are_refused():
    with pytest.raises(ValueError, match=r"routes.critical names unknown channels \['pager'\]"):
        AlertsConfig.model_validate({"routes": {"critical": ["pager"]}})
    with pytest.raises(ValueError, match="duration"):
        AlertsConfig.model_validate({"cooldown": "soon"})
    with pytest.raises(ValueError, match="duration"):
        AlertsConfig.model_validate({"silence": {"no_run": "3 days"}})


def test_silence_alerts_once_then_after_the_cooldown_not_every_hour():
    cfg = SilenceConfig(no_run="36h")
    last = datetime(2026, 11, 8, 0, 0)
    first = last + timedelta(hours=37)
    prior: dict = {}
    sent_at = []
    for hour in range(0, 30):  # the hourly check-silence deployment, for 30 hours of a dead scheduler
        now = first + timedelta(hours=hour)
        decisions, prior = run(silence_evidence(cfg, now, last, None, None), prior=prior, now=now)
        sent_at += [hour for d in decisions if d.notify]
    assert sent_at == [0, 24]  # the first alert and one reminder after the 24h cooldown


def share_row(state, share=0.015):
    passed = state in ("clear", "accepted")
    details = {"rule": "c known", "detail": f"c known: {share:.2%} of rows break it", "share": {"state": state}}
    return {"kind": "validation", "name": "expect_column_values_to_be_in_set", "column": "c", "value": share,
            "threshold": 0.01, "passed": passed, "details": details}  # fmt: skip


def test_a_standing_share_issue_alerts_once_a_rise_again_and_an_acceptance_closes_it_as_accepted():
    states, sent = {}, []
    for i, state in enumerate(["new", "standing", "standing", "rise", "standing", "accepted"]):
        now = T0 + timedelta(days=2 * i)  # past the 24 h cooldown every time: a reminder would be due
        evidence = window_evidence(window(), [share_row(state)]).inputs
        decisions, states = run(evidence, states, now)
        sent += [(d.action, d.reason) for d in decisions if d.notify]
    assert sent == [("alert", "new"), ("alert", "worse"), ("resolve", "accepted")]
    [msg] = compose("credit_risk", [d for d in decisions if d.notify], CFG, window())
    assert "accepted (`driftwarden accept`" in msg.text and "cleared" not in msg.text
