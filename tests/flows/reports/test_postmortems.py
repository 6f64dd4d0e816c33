"""Post-mortems of the demo month, written by its backfill: one incident per injected event, the concept change
one incident opened when its labels matured, updated by the retrain, closed on the new champion's mature KPIs;
in the store, beside the run pages, through the CLI; and a refresh that cannot write never fails a run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from driftwarden.config.loader import load_model_config
from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.store.incidents import list_incidents

pytestmark = pytest.mark.slow
CONCEPT = "credit-risk-2026-10-19-concept-change"


@pytest.fixture(scope="module")
def demo(demo_month, tmp_path_factory: pytest.TempPathFactory):
    """The demo month, a copy of its own for the module (its tests change the store's incidents and metrics)."""
    month = demo_month.copy(tmp_path_factory.mktemp("postmortems") / "month")
    with pytest.MonkeyPatch.context() as mp:
        month.use(mp)
        yield month.config, get_settings().resolved_store_url()
        get_settings.cache_clear()


def test_the_demo_month_has_one_incident_per_injected_event(demo):
    config, url = demo
    frame = list_incidents(store.open_store(url), "credit_risk")
    assert {
        "id", "model", "cause", "state", "opened_at", "updated_at", "closed_at", "first_window", "last_window",
        "title", "summary", "markdown", "html_path", "document",
    } <= set(frame.columns)  # fmt: skip
    assert list(frame["id"]) == [
        "credit-risk-2026-10-08-input-drift",
        "credit-risk-2026-10-14-data-quality",
        CONCEPT,
        "credit-risk-2026-10-25-volume",
    ]
    assert set(frame["state"]) == {"closed"}
    row = frame.set_index("id").loc[CONCEPT]
    # six nights, 19-24 (local), known once the first night's labels matured: not on night 19's own run
    assert row["first_window"] == pd.Timestamp("2026-10-18 22:00") and row["last_window"] == pd.Timestamp(
        "2026-10-23 22:00"
    )
    assert row["opened_at"] >= pd.Timestamp("2026-10-23 22:00")
    assert row["closed_at"] > row["opened_at"] and row["updated_at"] >= row["closed_at"]
    doc = json.loads(row["document"])
    assert doc["facts"]["windows"] == 6
    [retrain] = [r for r in doc["facts"]["retrains"] if r["outcome"] == "promoted"]
    assert retrain["version"] == 2 and retrain["p_value"] < 0.05
    # decided on nights 21-22, the windows after its holdout (night 20), once their labels matured
    assert retrain["shadow_windows"] == 1 and retrain["decided"].startswith("2026-10-27"), retrain
    ch, champ = retrain["scores"]["challenger"]["roc_auc"], retrain["scores"]["champion"]["roc_auc"]
    assert ch == pytest.approx(0.92, abs=0.015) and champ == pytest.approx(0.72, abs=0.015), retrain
    md = row["markdown"]
    assert "accuracy was 0.694 (95% interval" in md and "against a target of at least 0.8" in md
    assert f"{doc['facts']['predictions']:,} predictions were made in the breached windows" in md
    assert doc["facts"]["predictions"] > 14000
    assert "worse than the 0.898" in md  # the rule in the run's own figures
    assert (
        "DeLong (one-sided) test, p = " in md and f"retrained model {ch:.3f} against the champion's {champ:.3f}" in md
    )
    assert "labelled rows of the windows after its holdout" in md
    assert "promoted; the retrained model v2 became the champion" in md
    assert "Closed on" in md and "met their targets again on mature labels" in md
    # what it cost beyond the usual, in the review's words and figures
    cost = doc["facts"]["cost"]
    assert cost["currency"] == "EUR" and cost["windows"] == 6 and cost["extra"] > 100_000
    assert f"The concept change cost an estimated {cost['extra']:,.0f} EUR" in md and "before the retrain" in md
    assert "\n" not in row["summary"] and row["summary"].startswith("credit_risk: concept change")
    # the policy's UTC times in the model's zone, numbers grouped
    assert "since 2026-10-19 00:00 CEST (5,015 labelled rows" in md and "T22:00" not in md
    assert "checked on 2,494 held-out predictions" in md
    html_path = Path(row["html_path"])
    assert html_path.name == f"{CONCEPT}.html" and html_path.parent.name == "postmortems"
    assert html_path.exists() and html_path.with_suffix(".md").read_text() == md
    # links that work from file://: the model page and each breached night's run page, relative
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', html_path.read_text())
    assert links[0] == ("../model.html", "credit_risk: the model page")
    nights = {text: href for href, text in links[1:]}
    assert sorted(nights) == [f"2026-10-{d}" for d in range(19, 25)]
    assert all(href.startswith("../") and (html_path.parent / href).resolve().is_file() for href in nights.values())


def test_the_cli_lists_and_prints_post_mortems(demo):
    config, url = demo
    runner = CliRunner()
    listed = runner.invoke(app, ["postmortem", "--config", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    ids = [json.loads(line)["id"] for line in listed.stdout.splitlines()]
    assert CONCEPT in ids and len(ids) == 4
    printed = runner.invoke(app, ["postmortem", "--config", str(config), "--window", "2026-10-21"])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.startswith("# credit_risk: concept change (2026-10-19 to 2026-10-24)")
    by_id = runner.invoke(app, ["postmortem", "--config", str(config), "--incident", CONCEPT, "--json"])
    assert json.loads(by_id.stdout)["id"] == CONCEPT
    unknown = runner.invoke(app, ["postmortem", "--config", str(config), "--incident", "nope"])
    assert unknown.exit_code == 2 and "--incident nope" in unknown.output
    calm = runner.invoke(app, ["postmortem", "--config", str(config), "--window", "2026-10-03"])
    assert calm.exit_code == 0 and "window of 2026-10-03 was monitored (ok) and had no incident" in calm.output
    calm_json = runner.invoke(app, ["postmortem", "--config", str(config), "--window", "2026-10-03", "--json"])
    assert calm_json.exit_code == 0 and json.loads(calm_json.stdout) == []
    never = runner.invoke(app, ["postmortem", "--config", str(config), "--window", "2026-09-03"])
    assert never.exit_code == 2 and "--window 2026-09-03" in never.output and "no monitored window" in never.output
    facts = json.loads(by_id.stdout)["facts"]  # times in the model's zone, with its offset
    assert facts["opened_at"] == "2026-10-24T00:00:00+02:00" and facts["closed_at"] == "2026-10-31T00:00:00+01:00"
    assert facts["first_window"] == "2026-10-19T00:00:00+02:00"
    assert all(e["at"].endswith(("+01:00", "+02:00")) for e in facts["events"])


def test_the_input_drift_post_mortem_names_the_segments_that_drifted(demo):
    config, _ = demo
    found = CliRunner().invoke(
        app, ["postmortem", "--config", str(config), "--incident", "credit-risk-2026-10-08-input-drift", "--json"]
    )
    doc = json.loads(found.stdout)
    drifted = doc["facts"]["segment_drift"]  # the demo's income shift moves it in every region
    assert {d["segment"] for d in drifted} == {f"region={r}" for r in ("north", "south", "east", "west")}
    assert all("income" in d["features"] and d["windows"] == 1 for d in drifted)
    bullets = [b for section in doc["sections"] for b in section["bullets"]]
    words = f"Inputs drifted most in {drifted[0]['segment']}: {', '.join(drifted[0]['features'])} (1 of 1 windows)"
    assert any(b.startswith(words) for b in bullets), bullets


def test_a_store_without_incidents_gets_them_and_stale_ones_go(demo):
    from driftwarden.flows.reports.postmortems import refresh_incidents
    from driftwarden.flows.store.incidents import upsert_incidents

    config, url = demo
    engine = store.open_store(url)
    with engine.begin() as conn:
        conn.execute(store.tables.incidents.delete())
    stale = {
        "id": "credit-risk-2020-01-01-volume", "model": "credit_risk", "cause": "volume", "state": "open",
        "opened_at": pd.Timestamp("2020-01-01"), "updated_at": pd.Timestamp("2020-01-01"),
        "first_window": pd.Timestamp("2020-01-01"), "last_window": pd.Timestamp("2020-01-01"), "windows": 1,
        "predictions": 1, "title": "t", "summary": "s", "markdown": "m", "document": {},
    }  # fmt: skip
    upsert_incidents(engine, [stale])
    refreshed = refresh_incidents(load_model_config(config), url, publish=False)
    assert all(r.changed for r in refreshed)
    assert list(list_incidents(engine, "credit_risk")["id"]) == [r.id for r in refreshed]
    again = refresh_incidents(load_model_config(config), url, publish=False)
    assert not any(r.changed for r in again)  # nothing new: nothing rewritten, nothing published


def test_a_masked_column_never_appears_and_hostile_names_are_escaped(demo, tmp_path):
    """A private feature (masked) that drifted, and a category with markup in its name: the post-mortem
    leaves the first out and escapes the second."""
    from driftwarden.flows.reports.postmortems import refresh_incidents

    config, url = demo
    engine = store.open_store(url)
    hostile = "</script><b>x"

    def current(conn, start: str) -> int:
        runs = store.runs
        q = runs.select().where(runs.c.window_start == pd.Timestamp(start), runs.c.superseded.is_(False))
        return int(conn.execute(q).first().id)

    def copy(conn, run_id: int, kind: str, match, **changes) -> None:
        m = store.metrics
        row = conn.execute(m.select().where(m.c.run_id == run_id, m.c.kind == kind, match)).first()
        assert row is not None
        conn.execute(m.insert().values({**{k: v for k, v in row._mapping.items() if k != "id"}, **changes}))

    with engine.begin() as conn:
        drift_night = current(conn, "2026-10-07 22:00")  # the input drift
        for column in ("income", hostile):  # income is masked in the config below
            copy(conn, drift_night, "drift", store.metrics.c.column == "age", column=column, value=0.95)
        concept_night = current(conn, "2026-10-18 22:00")
        copy(conn, concept_night, "kpi", store.metrics.c.segment == "region=south", segment=f"region={hostile}")
    masked = tmp_path / "credit_risk.yaml"
    text = config.read_text().replace("failures: {max_per_run: 100}", "failures: {max_per_run: 100, mask: [income]}")
    masked.write_text(text.replace("../.driftwarden", str(config.parent.parent / ".driftwarden")))
    refreshed = refresh_incidents(load_model_config(masked), url, publish=False)
    for r in refreshed:
        page = Path(r.html_path).read_text()
        assert hostile not in page
        for text in (page, r.postmortem.to_markdown(), json.dumps(r.postmortem.to_json())):
            assert not re.search(r"\bincome\b", text), r.id  # debt_to_income is another column
    assert any("&lt;/script&gt;&lt;b&gt;x" in Path(r.html_path).read_text() for r in refreshed)


def test_a_refresh_that_cannot_write_never_fails_a_run(demo, monkeypatch):
    """The verdict is stored before: a post-mortem that cannot be written is a warning, and the alert goes
    out without its incident."""
    from driftwarden.flows.monitor import flow as monitor_flow
    from driftwarden.flows.reports import postmortems

    config, url = demo

    def broken(*args, **kwargs):
        raise OSError("the reports folder is read-only")

    monkeypatch.setattr(postmortems, "refresh_incidents", broken)
    monkeypatch.setattr(monitor_flow.model_page, "refresh_model_page", lambda cfg, url: None)
    assert monitor_flow.refresh_reports(load_model_config(config), url, str(config), None) == []


def test_a_scheduled_run_whose_alert_went_out_says_so_in_its_post_mortem(tmp_path, dw_home):
    """The post-mortems are refreshed before the alert (it names their incidents) and again after it, so the
    one the alert is about records it as sent, not "no alert was sent"."""
    from tests.streams import agrawal_config, write_agrawal_sources

    channels = {"log": {"type": "file", "path": "alerts.jsonl"}}
    config = write_agrawal_sources(tmp_path / "agrawal", config={**agrawal_config(), "alerts": {"channels": channels}})
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--window-end", "2025-02-22", "--json"])
    assert result.exit_code == 0, result.output
    [sent] = [json.loads(line) for line in (tmp_path / "agrawal" / "alerts.jsonl").read_text().splitlines()]
    [named] = sent["incidents"]
    frame = list_incidents(store.open_store(get_settings().resolved_store_url()), "agrawal").set_index("id")
    md = frame.loc[named["id"], "markdown"]
    assert "1 alert sent (channels: log)" in md and "No alert was sent" not in md
    assert "1 alert sent (channels: log)" in Path(named["postmortem"]).read_text()
